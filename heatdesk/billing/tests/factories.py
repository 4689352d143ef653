"""Seasons and tariffs for tests, written straight to the database (services are tested apart)."""

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from heatdesk.billing.models import Bill, HeatingSeason, LateFeeKind, Tariff

_years = itertools.count(2030)

D = Decimal


def season_fields(**overrides: Any) -> dict[str, Any]:
    """A Beijing-like 2026-2027 season: 15 Nov–15 Mar (121 days), due 31 Dec, then 2‰ a day
    capped at 30% of the principal, stopping when heat is cut off."""
    fields: dict[str, Any] = {
        "code": "2026-2027",
        "heating_start": dt.date(2026, 11, 15),
        "heating_end": dt.date(2027, 3, 15),
        "bill_issue_date": dt.date(2026, 9, 1),
        "payment_due_date": dt.date(2026, 12, 31),
        "stop_apply_deadline": dt.date(2026, 10, 15),
        "early_discount_rate": D("0.03"),
        "early_discount_last_day": dt.date(2026, 10, 31),
        "late_fee_kind": LateFeeKind.DAILY_RATE,
        "late_fee_rate": D("0.002"),
        "late_fee_start_date": dt.date(2027, 1, 1),
        "late_fee_cap_ratio": D("0.30"),
        "late_fee_stops_at_cutoff": True,
    }
    fields.update(overrides)
    return fields


def make_season(
    *, status: str = HeatingSeason.Status.OPEN, shift_years: bool = False, **overrides: Any
) -> HeatingSeason:
    fields = season_fields(**overrides)
    if shift_years:
        year = next(_years)
        fields["code"] = f"{year}-{year + 1}"
    return HeatingSeason.objects.create(status=status, **fields)


def make_tariff(
    season: HeatingSeason,
    *,
    usage_type: str = "residential",
    user_type: str = "normal",
    **overrides: Any,
) -> Tariff:
    last = (
        Tariff.objects.filter(season=season, usage_type=usage_type, user_type=user_type)
        .order_by("-version")
        .first()
    )
    fields: dict[str, Any] = {
        "pricing": "area",
        "area_basis": "building",
        "area_price": D("25.00"),
        "stop_basic_ratio": D("0.30"),
    }
    fields.update(overrides)
    return Tariff.objects.create(
        season=season,
        usage_type=usage_type,
        user_type=user_type,
        version=(last.version + 1) if last else 1,
        **fields,
    )


def lines_of(bill) -> list[tuple[str, int]]:
    """(kind, amount_fen) of a bill's lines as stored, in order."""
    from heatdesk.billing.models import BillLine

    return list(BillLine.objects.filter(bill=bill).order_by("id").values_list("kind", "amount_fen"))


def bill_state(bill) -> tuple:
    """What must not move when a change to a bill is refused."""
    row = Bill.objects.get(pk=bill.pk)
    return (row.status, row.total_fen, row.area, row.voided_at, lines_of(bill))


def dates_of(year: int) -> dict[str, Any]:
    """The factory season's dates moved to the season starting in `year`."""
    return {
        "code": f"{year}-{year + 1}",
        "heating_start": dt.date(year, 11, 15),
        "heating_end": dt.date(year + 1, 3, 15),
        "bill_issue_date": dt.date(year, 9, 1),
        "payment_due_date": dt.date(year, 12, 31),
        "stop_apply_deadline": dt.date(year, 10, 15),
        "early_discount_last_day": dt.date(year, 10, 31),
        "late_fee_start_date": dt.date(year + 1, 1, 1),
    }


def account_state(house) -> tuple:
    """Everything on a house's account, to show a refused request changed nothing."""
    from heatdesk.billing.models import Allocation, LedgerEntry

    bills = list(
        Bill.objects.filter(house=house)
        .order_by("id")
        .values_list("id", "status", "total_fen", "paid_fen")
    )
    entries = list(
        LedgerEntry.objects.filter(house=house).order_by("id").values_list("kind", "amount_fen")
    )
    allocations = list(
        Allocation.objects.filter(house=house).order_by("id").values_list("bill_id", "amount_fen")
    )
    lines = [lines_of(Bill(pk=pk)) for pk, *_ in bills]
    return bills, entries, allocations, lines


def assert_account_consistent(house) -> int:
    """The ledger's invariants; returns what the house owes (its ledger sum).

    * the ledger sums to what the bills still ask for less the account credit;
    * each bill's entries sum to its total (to zero once void), its allocations to `paid_fen`;
    * a bill's status follows its amounts.
    """
    from django.db.models import Sum

    from heatdesk.billing.models import Allocation, BillLine, LedgerEntry
    from heatdesk.billing.selectors.account import credit_fen
    from heatdesk.billing.services.ledger import status_for

    owed = LedgerEntry.objects.filter(house=house).aggregate(s=Sum("amount_fen"))["s"] or 0
    credit = credit_fen(house_id=house.pk)
    assert credit >= 0
    outstanding = 0
    for bill in Bill.objects.filter(house=house):
        entries = LedgerEntry.objects.filter(bill=bill).aggregate(s=Sum("amount_fen"))["s"] or 0
        allocated = Allocation.objects.filter(bill=bill).aggregate(s=Sum("amount_fen"))["s"] or 0
        lines = BillLine.objects.filter(bill=bill).aggregate(s=Sum("amount_fen"))["s"] or 0
        assert lines == bill.total_fen
        assert allocated == bill.paid_fen
        if bill.status == "void":
            assert (entries, bill.paid_fen) == (0, 0)
        elif bill.status != "draft":
            assert entries == bill.total_fen
            assert bill.status == status_for(total_fen=bill.total_fen, paid_fen=bill.paid_fen)
            outstanding += bill.total_fen - bill.paid_fen
    assert owed == outstanding - credit
    return owed
