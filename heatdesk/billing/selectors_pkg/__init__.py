"""Billing reads shared by pages, the API and other services."""

import datetime as dt
from collections.abc import Sequence

from django.db.models import QuerySet, Sum

from heatdesk.billing import terms
from heatdesk.billing.calculation import DraftLine, Payment, early_discount, late_fee
from heatdesk.billing.choices import PRINCIPAL_KINDS
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, Tariff
from heatdesk.estates.models import House

# Bills on which a late fee or an early-payment discount can arise.
PAYABLE = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID, Bill.Status.PAID})


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


def bill_principal_fen(*, bill: Bill) -> int:
    """What the late fee and the early discount are computed on (see PRINCIPAL_KINDS)."""
    total = BillLine.objects.filter(bill=bill, kind__in=PRINCIPAL_KINDS).aggregate(
        total=Sum("amount_fen")
    )["total"]
    return int(total or 0)


def bill_late_fee_as_of(
    *,
    bill: Bill,
    as_of: dt.date,
    payments: Sequence[Payment] = (),
    heat_cut_off_on: dt.date | None = None,
) -> DraftLine | None:
    """The late fee the bill has accrued by `as_of`, derived from the season's policy, never
    stored. `payments` are the principal paid so far and `heat_cut_off_on` the day heat was
    cut off for non-payment, both supplied by the apps that own them."""
    if bill.status not in PAYABLE:
        return None
    return late_fee(
        principal_fen=bill_principal_fen(bill=bill),
        policy=terms.late_fee_policy(bill.season),
        as_of=as_of,
        payments=payments,
        heat_cut_off_on=heat_cut_off_on,
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
