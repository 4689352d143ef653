"""Reads the counter needs: find a house the way a caller at the window names it (户号, address
or the owner's phone), what its bills owe today, a collector's open shift and what that shift
expects in the drawer."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum, Value
from django.db.models.functions import Concat

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.billing.models import Bill
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.core import clock
from heatdesk.estates.importing import owner_phone_clean
from heatdesk.estates.models import House
from heatdesk.payments.models import Channel, CounterShift, PaymentOrder, Provider, Refund

SEARCH_LIMIT = 20
# The drawer's channels, in the order a closing form lists them.
COUNTER_CHANNEL_ORDER: tuple[str, ...] = (Channel.CASH, Channel.POS, Channel.TRANSFER)


def houses_for_counter(*, query: str) -> list[House]:
    """Houses matching `query`: an exact 户号 first, then a whole owner phone (by its keyed
    hash; phones are encrypted), then 户号 prefixes and addresses containing the text."""
    text = (query or "").strip()
    if not text:
        return []
    houses = House.objects.select_related("unit__building__community")
    exact = list(houses.filter(account_no__iexact=text)[:1])
    try:
        phone = owner_phone_clean(text)
    except ValueError:
        phone = ""
    by_phone = (
        list(houses.filter(owner_phone_hash=phone_hash(phone))[:SEARCH_LIMIT]) if phone else []
    )
    compact = text.replace(" ", "")
    rest = list(
        houses.annotate(
            full_address=Concat(
                "unit__building__community__name",
                "unit__building__name",
                "unit__name",
                "room",
                Value("室"),
            )
        )
        .filter(Q(account_no__istartswith=text) | Q(full_address__icontains=compact))
        .order_by("account_no")[:SEARCH_LIMIT]
    )
    found: dict[int, House] = {}
    for house in [*exact, *by_phone, *rest]:
        found.setdefault(house.pk, house)
    return list(found.values())[:SEARCH_LIMIT]


def house_for_counter(*, house_id: str) -> House | None:
    return (
        House.objects.select_related("unit__building__community").filter(public_id=house_id).first()
    )


@dataclass(frozen=True)
class BillDueNow:
    bill: Bill
    due_fen: int
    late_fee_fen: int


def bills_due_now(*, house: House, as_of: dt.date | None = None) -> list[BillDueNow]:
    """The house's open bills, oldest season first, with what settles each one today."""
    day = as_of or clock.local_today()
    bills = (
        Bill.objects.filter(house=house, status__in=OPEN)
        .select_related("season")
        .order_by("season__heating_start", "id")
    )
    out = []
    for bill in bills:
        due = bill_due_as_of(bill=bill, as_of=day)
        out.append(BillDueNow(bill=bill, due_fen=due.due_fen, late_fee_fen=due.late_fee_fen))
    return out


def shift_open_of(*, collector: User) -> CounterShift | None:
    """The collector's open shift (at most one, by constraint)."""
    return CounterShift.objects.filter(collector=collector, status=CounterShift.Status.OPEN).first()


def shift_refunds_fen(*, shift: CounterShift) -> dict[str, int]:
    """Per channel, the counter refunds this shift paid out (`Refund.paid_out_shift`): each
    refund lowers exactly one drawer, through its order's channel."""
    rows = (
        Refund.objects.filter(paid_out_shift=shift, status=Refund.Status.SUCCEEDED)
        .values("order__channel")
        .annotate(total=Sum("amount_fen"))
    )
    return {row["order__channel"]: int(row["total"] or 0) for row in rows}


def shift_expected(*, shift: CounterShift) -> dict[str, int]:
    """Per channel, what the drawer should hold: the shift's PAID counter payments (voided ones
    excluded), less the refunds it paid out, plus the opening float in cash."""
    rows = (
        PaymentOrder.objects.filter(
            shift=shift, provider=Provider.COUNTER, status=PaymentOrder.Status.PAID
        )
        .values("channel")
        .annotate(total=Sum("paid_fen"))
    )
    paid = {row["channel"]: int(row["total"] or 0) for row in rows}
    refunded = shift_refunds_fen(shift=shift)
    expected = {
        channel: paid.get(channel, 0) - refunded.get(channel, 0)
        for channel in COUNTER_CHANNEL_ORDER
    }
    expected[Channel.CASH] += shift.opening_float_fen
    return expected


def refunds_awaiting_payout() -> QuerySet[Refund]:
    """Approved counter refunds no collector has paid out yet (待柜台付款), oldest first."""
    return (
        Refund.objects.filter(order__provider=Provider.COUNTER, status=Refund.Status.PROCESSING)
        .select_related("order")
        .order_by("decided_at", "pk")
    )


@dataclass(frozen=True)
class ShiftSummary:
    shift: CounterShift
    expected: dict[str, int]
    payments: int
    voided: int


def shift_summary(*, shift: CounterShift) -> ShiftSummary:
    """A shift as its collector sees it now: expected per channel and how many payments."""
    orders = PaymentOrder.objects.filter(shift=shift, provider=Provider.COUNTER)
    if shift.status == CounterShift.Status.CLOSED and shift.expected:
        expected = {k: int(v) for k, v in shift.expected.items()}
    else:
        expected = shift_expected(shift=shift)
    return ShiftSummary(
        shift=shift,
        expected=expected,
        payments=orders.filter(status=PaymentOrder.Status.PAID).count(),
        voided=orders.filter(status=PaymentOrder.Status.VOIDED).count(),
    )


def counter_orders_of_shift(*, shift: CounterShift) -> QuerySet[PaymentOrder]:
    return PaymentOrder.objects.filter(shift=shift, provider=Provider.COUNTER).order_by(
        "created_at", "id"
    )
