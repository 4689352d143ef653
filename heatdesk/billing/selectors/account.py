"""Reads of a house's account: its ledger, what it owes per bill and in all, its arrears."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from heatdesk.billing.models import Allocation, Bill, HeatingChange, HeatingSeason, LedgerEntry
from heatdesk.billing.selectors import OPEN, BillDue, bill_due_as_of
from heatdesk.core import rows
from heatdesk.estates.models import House


def ledger_entries(*, house: House) -> QuerySet[LedgerEntry]:
    """The account's entries in the order they were posted."""
    return LedgerEntry.objects.filter(house=house).select_related("bill__season").order_by("id")


# Both sums in one statement (one round trip), written out: settling a payment reads it under
# the house lock, and compiling two ORM aggregates cost more than running them.
_ENTRIES, _ALLOCATIONS = LedgerEntry._meta.db_table, Allocation._meta.db_table
# Table names come from the models; values are parameters.
_CREDIT_SQL = (
    f"SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM {_ENTRIES}"  # noqa: S608
    " WHERE house_id = %s AND kind IN (%s, %s)),"
    f" (SELECT COALESCE(SUM(amount_fen), 0) FROM {_ALLOCATIONS} WHERE house_id = %s)"
)


def credit_fen(*, house_id: int) -> int:
    """Money on the account not allocated to any bill: payments less refunds less allocations."""
    ((received, allocated),) = rows.fetch(
        _CREDIT_SQL,
        [house_id, LedgerEntry.Kind.PAYMENT.value, LedgerEntry.Kind.REFUND.value, house_id],
        [],
        name="billing_credit_fen",
    )
    return -int(received) - int(allocated)


def house_owed_fen(*, house: House) -> int:
    """What the house owes: the sum of its ledger (negative when it has credit)."""
    return int(
        LedgerEntry.objects.filter(house=house).aggregate(total=Sum("amount_fen"))["total"] or 0
    )


def open_bills(*, house: House) -> QuerySet[Bill]:
    """Bills still waiting for money, oldest season first (the order payments follow)."""
    return (
        Bill.objects.filter(house=house, status__in=OPEN)
        .select_related("season")
        .prefetch_related("lines", "allocations")
        .order_by("season__heating_start", "id")
    )


@dataclass(frozen=True)
class SeasonDue:
    season: HeatingSeason
    bill: Bill
    due: BillDue
    arrears: bool  # from a season that ended before today


@dataclass(frozen=True)
class AccountSummary:
    as_of: dt.date
    owed_fen: int
    credit_fen: int
    due_fen: int  # what settles everything today, late fees as of today included
    arrears_fen: int  # the part of `due_fen` from seasons that have ended
    bills: list[SeasonDue]


def account_summary(*, house: House, as_of: dt.date) -> AccountSummary:
    """What the house owes as of a day, bill by bill, with the late fee as of that day."""
    rows = []
    for bill in open_bills(house=house):
        due = bill_due_as_of(bill=bill, as_of=as_of)
        rows.append(
            SeasonDue(
                season=bill.season,
                bill=bill,
                due=due,
                arrears=bill.season.heating_end < as_of,
            )
        )
    credit = credit_fen(house_id=house.pk)
    return AccountSummary(
        as_of=as_of,
        owed_fen=house_owed_fen(house=house),
        credit_fen=credit,
        due_fen=max(sum(r.due.due_fen for r in rows) - credit, 0),
        arrears_fen=sum(r.due.due_fen for r in rows if r.arrears),
        bills=rows,
    )


def arrears_before(*, house: House, season: HeatingSeason, as_of: dt.date) -> int:
    """What the house still owes for seasons before `season`, late fees as of `as_of`
    included: 报停 and 复供 wait until it is paid."""
    return sum(
        bill_due_as_of(bill=bill, as_of=as_of).due_fen
        for bill in open_bills(house=house).filter(season__heating_start__lt=season.heating_start)
    )


def bills_of_houses(*, houses: list[House]) -> QuerySet[Bill]:
    """The bills of these houses, issued or later (drafts are not documents yet), newest season
    first, with what the late fee and the answer need loaded in a fixed number of queries."""
    return (
        Bill.objects.filter(house__in=houses)
        .exclude(status=Bill.Status.DRAFT)
        .select_related("season", "house")
        .prefetch_related("lines", "allocations")
        .order_by("-season__heating_start", "house__account_no", "-id")
    )


def heating_changes_of_house(*, house: House) -> QuerySet[HeatingChange]:
    return (
        HeatingChange.objects.filter(house=house)
        .select_related("house", "season")
        .order_by("-applied_at", "-id")
    )
