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
