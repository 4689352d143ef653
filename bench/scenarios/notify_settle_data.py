"""Data of the notify-settle scenario, run in the bench environment by bench.run:

    python -m bench.scenarios.notify_settle_data prepare --workdir DIR
    python -m bench.scenarios.notify_settle_data verify --workdir DIR

`prepare` creates, before the server starts:

* N houses (default 20,000; `BENCH_NOTIFY_ORDERS` changes it) in their own 小区, each with a
  payer (a resident bound to 5 of them), all heated residential homes;
* an open season with its tariffs, and its bills issued by the real billing run
  (`billing_run_start` / `billing_run_commit`, which bills the seeded city's houses too);
* one PENDING WeChat Pay Native order per house paying its bill, written in bulk exactly as
  `order_create` + `order_prepare` write them (out_trade_no minted, the amount due today, the
  idempotency key and request fingerprint, the order body we would send in `provider_request`,
  a `code_url` prepay), since the provider cannot be called here;
* `notify-settle-orders.jsonl`: what the provider knows of each order (out_trade_no, amount,
  its transaction id), from which the scenario's check signs the notifies just before the load
  (the timestamps must stay inside WeChat Pay's five-minute window).

`verify` checks the database after the load: every order is either PAID exactly once (one
ProviderNotify, one ledger payment for its amount, its bill paid) or untouched (PENDING, no
notify, no payment, bill issued); the ledger's payments add up to the paid orders; no more
orders were paid than the load sent and no fewer than it saw acknowledged; and no answer other
than 200 came back. It prints one `VERIFY ok …` or `VERIFY FAIL …` line.

Django is imported inside the functions: the scenario registry imports this module too.
"""

import argparse
import datetime as dt
import json
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.seed import residents_create, season_open_with_tariffs

ORDERS_FILE = "notify-settle-orders.jsonl"
TALLY_FILE = "notify-settle.tally"  # the Lua script's running totals: sent ok other
CHECK_FILE = "notify-settle-check.json"  # what the check sent outside the load
COMMUNITY = "BNOTIFY"
HOUSES_PER_PAYER = 5
DEFAULT_ORDERS = 20_000


def order_count() -> int:
    return int(os.environ.get("BENCH_NOTIFY_ORDERS") or DEFAULT_ORDERS)


def _estate(count: int) -> list[Any]:
    """A 小区 of `count` heated residential homes, and a payer bound to every five of them."""

    from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit

    community = Community.objects.create(code=COMMUNITY, name="压测小区", district="和平区")
    per_unit = 200
    units_needed = -(-count // per_unit)
    buildings = Building.objects.bulk_create(
        Building(community=community, name=f"{b + 1}号楼") for b in range(-(-units_needed // 4))
    )
    units = Unit.objects.bulk_create(
        Unit(building=b, name=f"{u + 1}单元") for b in buildings for u in range(4)
    )[:units_needed]
    houses = House.objects.bulk_create(
        (
            House(
                account_no=f"NS{n + 1:08d}",
                unit=units[n // per_unit],
                floor=(n % per_unit) // 8 + 1,
                room=f"{(n % per_unit) // 8 + 1}{n % 8 + 1:02d}",
                building_area=Decimal("80.00") + n % 50,
                heated_area=Decimal("76.00") + n % 50,
                usage_type=House.UsageType.RESIDENTIAL,
                user_type=House.UserType.NORMAL,
                heating_status=House.HeatingStatus.HEATING,
                meter_id=f"NSM{n + 1:08d}",
            )
            for n in range(count)
        ),
        batch_size=2000,
    )
    # The seeded residents' numbers start 13–19.
    payers = residents_create([f"120{n:08d}" for n in range(-(-count // HOUSES_PER_PAYER))])
    HouseBinding.objects.bulk_create(
        (
            HouseBinding(user=payers[n // HOUSES_PER_PAYER], house=house, relation="owner")
            for n, house in enumerate(houses)
        ),
        batch_size=2000,
    )
    return houses


def _season_and_bills() -> Any:
    """An open season whose payment is due in a month, billed by the real billing run."""
    from heatdesk.billing.services import runs

    season = season_open_with_tariffs()
    run = runs.billing_run_start(season=season, by=None, background=False)
    run = runs.billing_run_process(run_id=run.pk)
    runs.billing_run_commit(run=run, by=None, background=False)
    run = runs.billing_run_process(run_id=run.pk)
    if run.status != "committed":
        raise SystemExit(f"the billing run ended {run.status}: {run.error}")
    return season


def _orders(houses: list[Any], season: Any, workdir: Path) -> dict[str, int]:
    """One PENDING WeChat Pay Native order per house for its bill, as the services write it."""
    from django.conf import settings
    from django.db import transaction

    from heatdesk.billing.models import Bill
    from heatdesk.billing.selectors import bill_due_as_of
    from heatdesk.core import clock
    from heatdesk.estates.models import HouseBinding
    from heatdesk.payments.models import Channel, PaymentOrder, PaymentOrderItem, Provider
    from heatdesk.payments.providers import wechatpay_client as wx
    from heatdesk.payments.providers.config import wechatpay_config
    from heatdesk.payments.services.common import out_trade_no_mint
    from heatdesk.payments.services.orders import _fingerprint

    config = wechatpay_config()
    today = clock.local_today()
    now = clock.now()
    expires = now + dt.timedelta(minutes=settings.PAYMENTS_ORDER_EXPIRE_MINUTES)
    payer_of = dict(
        HouseBinding.objects.filter(house__in=houses).values_list("house_id", "user_id")
    )
    bills = {
        b.house_id: b
        for b in Bill.objects.filter(season=season, house__in=houses)
        .select_related("season")
        .prefetch_related("lines")
    }
    orders: list[PaymentOrder] = []
    items: list[tuple[int, int, int, int]] = []  # house, bill, amount, late fee
    stamp = clock.to_local(now).strftime("%Y%m%d")
    for n, house in enumerate(houses):
        bill = bills[house.pk]
        due = bill_due_as_of(bill=bill, as_of=today)
        out_trade_no = out_trade_no_mint()
        description = f"采暖费-{house.account_no}"
        body = wx.native_order_body(
            config,
            out_trade_no=out_trade_no,
            description=description,
            amount_fen=due.due_fen,
            time_expire=expires,
        )
        orders.append(
            PaymentOrder(
                out_trade_no=out_trade_no,
                provider=Provider.WECHATPAY,
                channel=Channel.WECHAT_NATIVE,
                status=PaymentOrder.Status.PENDING,
                amount_fen=due.due_fen,
                description=description,
                payer_id=payer_of[house.pk],
                idempotency_key=str(uuid.uuid4()),
                request_fingerprint=_fingerprint(
                    channel=Channel.WECHAT_NATIVE, bills=str(bill.pk), house="", openid=""
                ),
                expires_at=expires,
                provider_request=body.decode("utf-8"),
                prepay={"code_url": f"weixin://wxpay/bizpayurl?pr=bench{n:07d}"},
                prepay_at=now,
            )
        )
        late = due.late_fee.amount_fen if due.late_fee is not None else 0
        items.append((house.pk, bill.pk, due.due_fen, late))
    with transaction.atomic():
        orders = PaymentOrder.objects.bulk_create(orders, batch_size=2000)
        PaymentOrderItem.objects.bulk_create(
            (
                PaymentOrderItem(
                    order=order, house_id=house, bill_id=bill, amount_fen=amount, late_fee_fen=late
                )
                for order, (house, bill, amount, late) in zip(orders, items, strict=True)
            ),
            batch_size=2000,
        )
    with (workdir / ORDERS_FILE).open("w") as out:
        for n, order in enumerate(orders):
            out.write(
                json.dumps(
                    {
                        "out_trade_no": order.out_trade_no,
                        "amount_fen": order.amount_fen,
                        "transaction_id": f"42000{stamp}{n:015d}",
                    }
                )
                + "\n"
            )
    return {"orders": len(orders), "fen": sum(o.amount_fen for o in orders)}


def prepare(workdir: Path) -> str:
    from django.db import connection

    houses = _estate(order_count())
    season = _season_and_bills()
    made = _orders(houses, season, workdir)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    (workdir / TALLY_FILE).write_text("0 0 0 0\n")
    return f"{made['orders']:,} pending WeChat Pay orders ({made['fen']:,} fen) for issued bills"


def _tally(workdir: Path) -> tuple[int, int, int]:
    """(requests sent, 200 answers, other answers) over every wrk run of the scenario."""
    path = workdir / TALLY_FILE
    _offset, sent, ok, other = (int(x) for x in path.read_text().split())
    return sent, ok, other


def _settled_down(max_seconds: float = 30) -> None:
    """Wait until the notifies wrk left in flight are done (no new one stored for a second)."""
    from heatdesk.payments.models import ProviderNotify

    deadline = time.monotonic() + max_seconds
    last = -1
    while time.monotonic() < deadline:
        now = ProviderNotify.objects.count()
        if now == last:
            return
        last = now
        time.sleep(1)


def verify(workdir: Path) -> str:
    """The checks of the module docstring, on one snapshot of the database."""
    from django.db import connection, transaction

    _settled_down()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _verify(workdir)


def _verify(workdir: Path) -> str:
    from django.db.models import Count, F, Q, Sum

    from heatdesk.billing.models import Bill, LedgerEntry
    from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify

    orders = PaymentOrder.objects.filter(items__house__unit__building__community__code=COMMUNITY)
    problems: list[str] = []
    by_status = dict(
        orders.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    paid = orders.filter(status=PaymentOrder.Status.PAID)
    paid_count = by_status.get(PaymentOrder.Status.PAID, 0)
    other = {s: n for s, n in by_status.items() if s not in {"paid", "pending"}}
    if other:
        problems.append(f"orders neither paid nor pending: {other}")
    paid_numbers = set(paid.values_list("out_trade_no", flat=True))
    notifies = ProviderNotify.objects.filter(provider="wechatpay", kind="payment")
    per_order = notifies.values("out_trade_no").annotate(n=Count("id"))
    doubled = [r["out_trade_no"] for r in per_order if r["n"] != 1]
    notified = {r["out_trade_no"] for r in per_order}
    if doubled:
        problems.append(f"{len(doubled)} orders with more than one notify stored")
    if notified != paid_numbers:
        problems.append(
            f"{len(notified - paid_numbers)} notified orders not paid, "
            f"{len(paid_numbers - notified)} paid orders without a notify"
        )
    if notifies.exclude(outcome=ProviderNotify.Outcome.APPLIED).exists():
        problems.append("notifies stored with an outcome other than applied")
    payments = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT, source="wechatpay")
    per_source = payments.values("source_id").annotate(n=Count("id"), fen=Sum("amount_fen"))
    ledger = {r["source_id"]: (r["n"], -r["fen"]) for r in per_source}
    amounts = dict(paid.values_list("out_trade_no", "amount_fen"))
    if set(ledger) != paid_numbers:
        problems.append(f"ledger payments for {len(ledger)} orders, {paid_count} orders paid")
    wrong = [no for no, (n, fen) in ledger.items() if n != 1 or fen != amounts.get(no)]
    if wrong:
        problems.append(f"{len(wrong)} orders whose ledger payment is doubled or of another sum")
    ledger_fen = -(payments.aggregate(s=Sum("amount_fen"))["s"] or 0)
    paid_fen = paid.aggregate(s=Sum("amount_fen"))["s"] or 0
    if ledger_fen != paid_fen or paid.exclude(paid_fen=F("amount_fen")).exists():
        problems.append(f"ledger payments {ledger_fen} fen, paid orders {paid_fen} fen")
    bills = Bill.objects.filter(house__unit__building__community__code=COMMUNITY)
    paid_bills = bills.filter(Q(status=Bill.Status.PAID), Q(paid_fen=F("total_fen"))).count()
    if paid_bills != paid_count or bills.filter(status=Bill.Status.ISSUED).count() != (
        len(bills) - paid_count
    ):
        problems.append(f"{paid_bills} bills paid in full for {paid_count} paid orders")
    check = json.loads((workdir / CHECK_FILE).read_text())
    alerts = PaymentAlert.objects.filter(kind=PaymentAlert.Kind.NOTIFY_REJECTED).count()
    if alerts != check["refused"]:
        problems.append(f"{alerts} refused-notify alerts, the check sent {check['refused']}")
    sent, ok, non_200 = _tally(workdir)
    if non_200:
        problems.append(f"{non_200} answers other than 200 during the load")
    if not ok + check["settled"] <= paid_count <= sent + check["settled"]:
        problems.append(
            f"{paid_count} orders paid, but the load sent {sent} and saw {ok} acknowledged "
            f"(+{check['settled']} by the check)"
        )
    summary = (
        f"{paid_count:,} orders paid once ({paid_fen:,} fen = ledger), {sent:,} notifies sent, "
        f"{ok:,} acknowledged, {non_200} other answers"
    )
    return ("FAIL " + "; ".join(problems) + f" — {summary}") if problems else f"ok {summary}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["prepare", "verify"])
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    import django

    django.setup()
    if args.action == "prepare":
        print(f"PREPARED {prepare(args.workdir)}")
    else:
        print(f"VERIFY {verify(args.workdir)}")


if __name__ == "__main__":
    main()
