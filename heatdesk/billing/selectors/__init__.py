"""Billing reads shared by pages, the API and other services."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from heatdesk.billing import terms
from heatdesk.billing.calculation import DraftLine, Payment, early_discount, late_fee
from heatdesk.billing.choices import PRINCIPAL_KINDS, BillLineKind
from heatdesk.billing.models import Allocation, Bill, BillLine, HeatingSeason, Tariff
from heatdesk.core import clock
from heatdesk.estates.models import House

# Bills on which a late fee or an early-payment discount can arise.
PAYABLE = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID, Bill.Status.PAID})
# Bills that still wait for money.
OPEN = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID})


def tariff_current(*, season: HeatingSeason, usage_type: str, user_type: str) -> Tariff | None:
    """The version new bills use: the highest one for (season, usage type, user type)."""
    return (
        Tariff.objects.filter(season=season, usage_type=usage_type, user_type=user_type)
        .order_by("-version")
        .first()
    )


def bill_live_for(*, house: House, season: HeatingSeason) -> Bill | None:
    """The house's bill for the season that is not void (at most one, by constraint)."""
    return Bill.objects.filter(house=house, season=season).exclude(status=Bill.Status.VOID).first()


def bills_for_house(*, house: House) -> QuerySet[Bill]:
    """A house's bills, newest season first, voided ones included (history stays)."""
    return (
        Bill.objects.filter(house=house)
        .select_related("season")
        .order_by("-season__heating_start", "-created_at", "-id")
    )


def bill_lines(*, bill: Bill) -> QuerySet[BillLine]:
    return BillLine.objects.filter(bill=bill).order_by("id")


def _lines(bill: Bill) -> list[BillLine]:
    """The bill's lines, from a `prefetch_related("lines")` when the caller made one."""
    cache = getattr(bill, "_prefetched_objects_cache", {})
    if "lines" in cache:
        return list(cache["lines"])
    return list(BillLine.objects.filter(bill=bill).order_by("id"))


def bill_principal_fen(*, bill: Bill) -> int:
    """What the late fee and the early discount are computed on (see PRINCIPAL_KINDS)."""
    cache = getattr(bill, "_prefetched_objects_cache", {})
    if "lines" in cache:
        return sum(line.amount_fen for line in cache["lines"] if line.kind in PRINCIPAL_KINDS)
    total = BillLine.objects.filter(bill=bill, kind__in=PRINCIPAL_KINDS).aggregate(
        total=Sum("amount_fen")
    )["total"]
    return int(total or 0)


def bill_payments(*, bill: Bill) -> list[Payment]:
    """Money allocated to the bill, by local day: what the late fee counts as paid principal."""
    cache = getattr(bill, "_prefetched_objects_cache", {})
    rows = (
        [(a.occurred_at, a.amount_fen) for a in cache["allocations"]]
        if "allocations" in cache
        else list(Allocation.objects.filter(bill=bill).values_list("occurred_at", "amount_fen"))
    )
    return [Payment(paid_on=clock.to_local(at).date(), amount_fen=amount) for at, amount in rows]


def _capped(bill: Bill, as_of: dt.date) -> dt.date:
    """A closed season's late fees were fixed when it closed: nothing accrues after that day."""
    closed_at = bill.season.closed_at
    if closed_at is not None:
        return min(as_of, clock.to_local(closed_at).date())
    return as_of


def bill_late_fee_as_of(
    *,
    bill: Bill,
    as_of: dt.date,
    payments: Sequence[Payment] | None = None,
    heat_cut_off_on: dt.date | None = None,
) -> DraftLine | None:
    """The late fee the bill has accrued by `as_of`, derived from the season's policy, never
    stored. `payments` are the principal paid so far (default: the bill's allocations) and
    `heat_cut_off_on` the day heat was cut off for non-payment (default: the 停热日期 recorded
    on the bill). Nothing accrues after the season closed."""
    if bill.status not in PAYABLE:
        return None
    return late_fee(
        principal_fen=bill_principal_fen(bill=bill),
        policy=terms.late_fee_policy(bill.season),
        as_of=_capped(bill, as_of),
        payments=bill_payments(bill=bill) if payments is None else payments,
        heat_cut_off_on=bill.heat_cut_off_on if heat_cut_off_on is None else heat_cut_off_on,
    )


def bill_early_discount_as_of(*, bill: Bill, paid_on: dt.date) -> DraftLine | None:
    """The early-payment discount if the bill is settled in full on `paid_on`."""
    if bill.status not in PAYABLE:
        return None
    return early_discount(
        principal_fen=bill_principal_fen(bill=bill),
        policy=terms.early_discount_policy(bill.season),
        paid_on=paid_on,
    )


@dataclass(frozen=True)
class BillDue:
    """What settling a bill on a given day takes.

    `late_fee` and `early_discount` are derived amounts not yet on the bill (None once fixed
    into a line, or when nothing applies); `late_fee_fen` counts a fixed late fee too, for
    showing. `due_fen` = outstanding + the derived late fee − the discount for settling in full.
    """

    as_of: dt.date
    outstanding_fen: int
    late_fee: DraftLine | None
    late_fee_fen: int
    late_fee_fixed: bool
    early_discount: DraftLine | None
    due_fen: int


def bill_due_as_of(*, bill: Bill, as_of: dt.date) -> BillDue:
    """The amount that settles `bill` in full on `as_of`, with the late fee as of that day.

    The late fee is derived until it is fixed into a line (when the bill is paid, or when its
    season closes); after that it is the line. The early-payment discount applies only to a
    bill settled in full on or before the season's last discount day.
    """
    lines = _lines(bill)
    fixed = [line.amount_fen for line in lines if line.kind == BillLineKind.LATE_FEE]
    has_discount = any(line.kind == BillLineKind.EARLY_DISCOUNT for line in lines)
    outstanding = bill.total_fen - bill.paid_fen
    derived: DraftLine | None = None
    discount: DraftLine | None = None
    if bill.status in OPEN:
        if not fixed:
            derived = bill_late_fee_as_of(bill=bill, as_of=as_of)
        if not has_discount:
            discount = bill_early_discount_as_of(bill=bill, paid_on=as_of)
    late_fen = sum(fixed) + (derived.amount_fen if derived else 0)
    due = outstanding + (derived.amount_fen if derived else 0)
    if discount is not None:
        due += discount.amount_fen
    return BillDue(
        as_of=as_of,
        outstanding_fen=outstanding,
        late_fee=derived,
        late_fee_fen=late_fen,
        late_fee_fixed=bool(fixed),
        early_discount=discount,
        due_fen=due,
    )
