"""Demo billing for `heatdesk demo`: last winter closed with a few debts, this winter open and
billed for every house, some bills already paid at the counter.

Everything goes through the billing and payments services, as staff would do it: seasons are
created and opened, tariffs set, last winter's debts issued one by one and the season closed
(which fixes their late fee), this winter billed by a real billing run (dry run, then commit)
in the foreground, and payments taken by the demo collector in a shift that is then closed
even. Each step looks at what is already there first, so running it again — or after an
interrupted run — finishes what is missing and changes nothing else.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.billing.choices import AreaBasis, LateFeeKind, Pricing
from heatdesk.billing.models import Bill, BillingRun, HeatingSeason, Tariff
from heatdesk.billing.selectors import bill_live_for
from heatdesk.billing.services import (
    bill_issue,
    runs,
    season_close,
    season_create,
    season_open,
    tariff_create,
)
from heatdesk.core import clock
from heatdesk.estates.models import House
from heatdesk.payments.counter_selectors import shift_expected
from heatdesk.payments.models import Channel, CounterShift, PaymentOrder
from heatdesk.payments.services.counter import counter_out_trade_no, counter_payment_record
from heatdesk.payments.services.counter_shifts import TAKE, shift_close, shift_open

D = Decimal

# Last winter's bills left unpaid: the demo resident's second home, and a few neighbours.
ARREARS_DEMO = ("HT020611101",)
ARREARS_EVERY = 173  # and every 173rd house of the city (by account number)
# Paid at the counter this winter: in part by the second demo resident, in full by neighbours.
PARTLY_PAID = {"HT030230301": 100_000}  # 1,000.00 元 of the bill
PAID_EVERY = 61
COLLECTOR = "collector"


@dataclass(frozen=True)
class BillingDemoResult:
    created: bool  # False: everything was there already and nothing was written
    seasons: tuple[str, ...]
    bills_issued: int
    billed_fen: int
    arrears: int
    payments: int


def winter_start_year(today: dt.date) -> int:
    """The year the current (or coming) heating season starts: from July on, this year's."""
    return today.year if today.month >= 7 else today.year - 1


def season_rules(year: int) -> dict[str, Any]:
    """The city's rules for the season starting in `year`: heating 15 Nov–15 Mar, bills from
    1 Sep, 3% off until 31 Oct, due 31 Dec, then 2‰ a day from 1 Jan capped at 30% of the
    principal and stopping when heat is cut off; 报停 applications until 15 Oct."""
    return {
        "code": f"{year}-{year + 1}",
        "heating_start": dt.date(year, 11, 15),
        "heating_end": dt.date(year + 1, 3, 15),
        "bill_issue_date": dt.date(year, 9, 1),
        "payment_due_date": dt.date(year, 12, 31),
        "stop_apply_deadline": dt.date(year, 10, 15),
        "early_discount_rate": D("0.03"),
        "early_discount_last_day": dt.date(year, 10, 31),
        "late_fee_kind": LateFeeKind.DAILY_RATE,
        "late_fee_rate": D("0.002"),
        "late_fee_start_date": dt.date(year + 1, 1, 1),
        "late_fee_cap_ratio": D("0.30"),
        "late_fee_stops_at_cutoff": True,
    }


# (usage type, user type, terms): every kind of house in the demo city has a price.
TARIFFS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        House.UsageType.RESIDENTIAL,
        House.UserType.NORMAL,
        {"note": "居民供热价格：24元/㎡·采暖季（建筑面积）"},
    ),
    (
        House.UsageType.RESIDENTIAL,
        House.UserType.LOW_INCOME,
        {
            "relief_ratio": D("0.50"),
            "relief_funding_source": "民政部门低保家庭采暖补贴",
            "note": "低保/困难户减免50%",
        },
    ),
    (
        House.UsageType.NON_RESIDENTIAL,
        House.UserType.NORMAL,
        {"surcharge_ratio": D("0.50"), "note": "非居民在居民热价基础上加价50%"},
    ),
)
BASE_TERMS: dict[str, Any] = {
    "pricing": Pricing.AREA,
    "area_basis": AreaBasis.BUILDING,
    "area_price": D("24.00"),
    "stop_basic_ratio": D("0.30"),
}


def _season(year: int) -> HeatingSeason:
    rules = season_rules(year)
    season = HeatingSeason.objects.filter(code=rules["code"]).first()
    if season is None:
        season = season_create(by=None, **rules)
    if not Tariff.objects.filter(season=season).exists():
        for usage_type, user_type, terms in TARIFFS:
            tariff_create(
                season=season,
                usage_type=usage_type,
                user_type=user_type,
                by=None,
                **BASE_TERMS,
                **terms,
            )
    if season.status == HeatingSeason.Status.DRAFT:
        season = season_open(season=season, by=None)
    return season


def arrears_accounts() -> list[str]:
    """Houses that still owe last winter's bill."""
    accounts = list(House.objects.order_by("account_no").values_list("account_no", flat=True))
    picked = set(ARREARS_DEMO) | set(accounts[ARREARS_EVERY // 2 :: ARREARS_EVERY])
    return sorted(a for a in picked if a in set(accounts))


def _last_winter(year: int) -> tuple[HeatingSeason, int]:
    """Last winter: its unpaid bills, then the season closed (their late fee fixed as a line)."""
    season = HeatingSeason.objects.filter(code=season_rules(year)["code"]).first()
    if season is not None and season.status == HeatingSeason.Status.CLOSED:
        return season, Bill.objects.filter(season=season).count()
    season = _season(year)
    accounts = arrears_accounts()
    houses = House.objects.filter(account_no__in=accounts).exclude(
        heating_status=House.HeatingStatus.DISCONNECTED
    )
    for house in houses.order_by("id"):
        bill_issue(house=house, season=season, issued_by=None)
    return season_close(season=season, by=None), len(accounts)


def _bill_this_winter(season: HeatingSeason) -> int:
    """A billing run for every house, processed here: the dry run, then the commit."""
    done = BillingRun.objects.filter(season=season, status=BillingRun.Status.COMMITTED).first()
    if done is not None:
        return Bill.objects.filter(season=season).count()
    run = (
        BillingRun.objects.filter(season=season)
        .exclude(status__in=[BillingRun.Status.CANCELLED, BillingRun.Status.COMMITTED])
        .order_by("-id")
        .first()
    )
    if run is None:
        run = runs.billing_run_start(season=season, by=None, background=False)
    elif run.status == BillingRun.Status.FAILED:
        run = runs.billing_run_resume(run=run, by=None, background=False)
    if run.status in BillingRun.ACTIVE:
        run = runs.billing_run_process(run_id=run.pk)
    if run.status == BillingRun.Status.PREVIEWED:
        run = runs.billing_run_commit(run=run, by=None, background=False)
        run = runs.billing_run_process(run_id=run.pk)
    if run.status != BillingRun.Status.COMMITTED:
        raise RuntimeError(f"demo billing run ended {run.status}: {run.error}")
    return Bill.objects.filter(season=season).count()


def payments_plan(season: HeatingSeason) -> list[tuple[House, int | None]]:
    """(house, amount) paid at the counter; None pays everything the house owes."""
    skip = set(arrears_accounts()) | set(PARTLY_PAID)
    accounts = list(House.objects.order_by("account_no").values_list("account_no", flat=True))
    amounts: dict[str, int | None] = {
        a: None for a in accounts[PAID_EVERY // 2 :: PAID_EVERY] if a not in skip
    }
    amounts.update(PARTLY_PAID)
    billed = Bill.objects.filter(season=season, house__account_no__in=amounts).exclude(
        status=Bill.Status.VOID
    )
    houses = {bill.house.account_no: bill.house for bill in billed.select_related("house")}
    return [(houses[a], amounts[a]) for a in sorted(amounts) if a in houses]


def _counter_payments(season: HeatingSeason) -> int:
    """The demo collector takes the planned payments in one shift and closes it even. Each
    payment's Idempotency-Key is its house, so a second run finds them all made."""
    collector = User.objects.filter(username=COLLECTOR, is_staff=True).first()
    if collector is None or not collector.has_perm(TAKE):
        return 0  # a user of that name that is not our collector: leave the counter alone
    plan = payments_plan(season)
    todo = [
        (house, amount)
        for house, amount in plan
        if not PaymentOrder.objects.filter(
            out_trade_no=counter_out_trade_no(collector=collector, idempotency_key=_key(house))
        ).exists()
    ]
    if not todo:
        return len(plan)
    shift = CounterShift.objects.filter(
        collector=collector, status=CounterShift.Status.OPEN
    ).first()
    opened = shift is None
    if shift is None:
        shift = shift_open(collector=collector)
    for house, amount in todo:
        bill = bill_live_for(house=house, season=season)
        counter_payment_record(
            collector=collector,
            house=house,
            bills=[bill] if amount is not None and bill is not None else None,
            channel=Channel.CASH,
            amount_fen=amount,
            idempotency_key=_key(house),
        )
    if opened:  # a shift the collector had open already stays theirs to close
        counted = shift_expected(shift=shift)
        shift_close(shift=shift, counted=counted, note="", by=collector)
    return len(plan)


def _key(house: House) -> str:
    return f"demo-{house.account_no}"


def billing_demo_load() -> BillingDemoResult:
    """Last winter closed with its debts, this winter open, billed and partly paid."""
    year = winter_start_year(clock.local_today())
    before = _footprint()
    last, arrears = _last_winter(year - 1)
    current = _season(year)
    issued = _bill_this_winter(current)
    paid = _counter_payments(current)
    billed = Bill.objects.filter(season=current).exclude(status=Bill.Status.VOID)
    return BillingDemoResult(
        created=_footprint() != before,
        seasons=(last.code, current.code),
        bills_issued=issued,
        billed_fen=billed.aggregate(total=Sum("total_fen"))["total"] or 0,
        arrears=arrears,
        payments=paid,
    )


def _footprint() -> tuple[int, ...]:
    return (
        HeatingSeason.objects.count(),
        Bill.objects.count(),
        BillingRun.objects.count(),
        PaymentOrder.objects.count(),
    )
