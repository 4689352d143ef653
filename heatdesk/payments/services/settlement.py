"""Settlement: a payment the provider (or the counter) confirmed becomes PAID and lands on the
billing ledger, in one transaction, exactly once.

The order row is locked first, then each house (by the ledger, in primary-key order), so
concurrent settlers of one order queue on the order and the second finds it PAID. The ledger
itself is idempotent on (source, source_id) as a second guard. Channel-agnostic: online
notifies, queries, reconciliation and counter payments all come through `order_settle`.
"""

import datetime as dt
from collections import defaultdict
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Model

from heatdesk.accounts.models import User
from heatdesk.billing.models import Bill
from heatdesk.billing.services.ledger import ledger_post_payment
from heatdesk.core import clock, rows
from heatdesk.estates.models import House
from heatdesk.payments.models import PaymentAlert, PaymentOrder, PaymentOrderItem, Provider
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.common import Status

SETTLE_FROM = frozenset(
    {Status.CREATED, Status.PENDING, Status.UNKNOWN, Status.CLOSED, Status.FAILED}
)
LATE_FROM = frozenset({Status.CLOSED, Status.FAILED})
# Settled by `order_settle_waiting`'s one compare-and-set: no alert, nothing to read first.
WAITING = SETTLE_FROM - LATE_FROM
DOUBLE_PAYMENT_REFUND_REASON = "重复缴费自动退款"
M = TypeVar("M", bound=Model)


def ledger_source_id(order: PaymentOrder, *, index: int, houses: int) -> str:
    """The ledger's idempotency key for one house's share of the order."""
    return order.out_trade_no if houses == 1 else f"{order.out_trade_no}-{index + 1}"


def _post_to_ledger(
    *,
    order: PaymentOrder,
    paid_at: dt.datetime,
    by: User | None,
    items: list[PaymentOrderItem] | None = None,
) -> int:
    """Post each house's share with the order's bills as explicit allocations; returns the
    money no open bill took (a bill paid meanwhile by someone else): the excess. `items`: the
    order's items with house and bill, when the caller read them already."""
    if items is None:
        # One query for the items, their houses and their bills (the ledger locks each house
        # and reads its bills again under that lock; these rows only say which ones).
        items = list(
            PaymentOrderItem.objects.filter(order=order)
            .select_related("house", "bill")
            .order_by("house_id", "id")
        )
    per_house: dict[int, list[PaymentOrderItem]] = defaultdict(list)
    for item in items:
        per_house[item.house_id].append(item)
    bills: dict[int, Bill] = {i.bill_id: i.bill for i in items if i.bill_id and i.bill}
    houses: dict[int, House] = {i.house_id: i.house for i in items}
    excess = 0
    for index, house_id in enumerate(sorted(per_house)):
        share = per_house[house_id]
        amount = sum(item.amount_fen for item in share)
        posting = ledger_post_payment(
            house=houses[house_id],
            amount_fen=amount,
            source=order.provider,
            source_id=ledger_source_id(order, index=index, houses=len(per_house)),
            allocations=[(bills[i.bill_id], i.amount_fen) for i in share if i.bill_id],
            paid_at=paid_at,
            by=by,
            # The settlement's own transaction (or savepoint) already holds whatever the
            # ledger does; an error rolls both back.
            savepoint=False,
        )
        # Online, every fen of the order was meant for a bill; at the counter a share without a
        # bill is a prepayment the collector took on purpose, so only bill shares can be excess.
        meant_for_bills = (
            amount
            if order.provider != Provider.COUNTER
            else sum(item.amount_fen for item in share if item.bill_id)
        )
        excess += max(meant_for_bills - sum(a.amount_fen for a in posting.allocations), 0)
    return excess


def _refund_excess_on_commit(order: PaymentOrder, excess: int) -> None:
    def refund() -> None:
        from heatdesk.payments.services.refunds import refund_create_automatic

        refund_create_automatic(
            order=PaymentOrder.objects.get(pk=order.pk),
            amount_fen=excess,
            reason=DOUBLE_PAYMENT_REFUND_REASON,
        )

    transaction.on_commit(refund)


def order_settle(
    *,
    order: PaymentOrder,
    transaction_id: str,
    paid_fen: int,
    paid_at: dt.datetime | None = None,
    by: User | None = None,
    locked: bool = False,
) -> PaymentOrder:
    """Mark the order PAID by `transaction_id` and post the money to the billing ledger.

    Idempotent: settling a PAID order again with the same transaction changes nothing. A paid
    amount other than the order's raises an alert and credits nothing. A payment of an order we
    had closed or failed is still taken (provider truth wins) with a LATE_PAYMENT alert. Money
    that found no open bill (the bill was paid twice) is `excess_fen`: account credit, or with
    PAYMENTS_DOUBLE_PAYMENT = "refund" an automatic refund requested after commit.

    `locked`: the caller read `order` in full with `select_for_update()` in its still open
    transaction, so it is the locked row as stored and is not read again; and an error here
    rolls back the caller's whole transaction (no savepoint of our own: two round trips less).
    """
    paid_at = paid_at or clock.now()
    with transaction.atomic(savepoint=not locked):
        row = order if locked else PaymentOrder.objects.select_for_update().get(pk=order.pk)
        if row.status == Status.PAID:
            if transaction_id and row.transaction_id and transaction_id != row.transaction_id:
                alert_raise(
                    kind=PaymentAlert.Kind.DOUBLE_PAYMENT,
                    message=f"同一订单收到另一笔支付 {transaction_id}，需人工核对。",
                    provider=row.provider,
                    out_trade_no=row.out_trade_no,
                    detail={"transaction_id": transaction_id, "paid_fen": paid_fen},
                )
            return row
        if row.status not in SETTLE_FROM:
            alert_raise(
                kind=PaymentAlert.Kind.LATE_PAYMENT,
                message=f"订单状态为“{row.get_status_display()}”时收到支付，未入账。",
                provider=row.provider,
                out_trade_no=row.out_trade_no,
                detail={"transaction_id": transaction_id, "paid_fen": paid_fen},
            )
            return row
        if paid_fen != row.amount_fen:
            alert_raise(
                kind=PaymentAlert.Kind.RECONCILIATION,
                message=f"实付 {paid_fen} 分与订单金额 {row.amount_fen} 分不符，未入账。",
                provider=row.provider,
                out_trade_no=row.out_trade_no,
                detail={"transaction_id": transaction_id, "paid_fen": paid_fen},
            )
            PaymentOrder.objects.filter(pk=row.pk).update(needs_attention=True)
            row.needs_attention = True
            return row
        was = row.status
        paid = {
            "status": Status.PAID,
            "transaction_id": transaction_id,
            "paid_fen": paid_fen,
            "paid_at": paid_at,
            # Every paid order has a receipt number; online it is our order number, the one the
            # provider's own records show the payer, so the two can be matched at a glance.
            "receipt_no": row.receipt_no or row.out_trade_no,
            "next_check_at": None,
            "updated_at": clock.now(),
        }
        moved = PaymentOrder.objects.filter(pk=row.pk, status=was).update(**paid)
        if not moved:
            # Unreachable while we hold the row lock; kept as the compare-and-set's guard.
            raise RuntimeError(f"order {row.out_trade_no} moved under its lock")
        if was in LATE_FROM:
            alert_raise(
                kind=PaymentAlert.Kind.LATE_PAYMENT,
                message=f"订单在“{row.get_status_display()}”后仍到账，已按实际支付入账。",
                provider=row.provider,
                out_trade_no=row.out_trade_no,
                detail={"transaction_id": transaction_id, "previous_status": was},
            )
        # The row as the UPDATE above left it (we hold its lock; the ledger does not touch it).
        for name, value in paid.items():
            setattr(row, name, value)
        _post_paid(row, paid_at=paid_at, by=by)
    return row


def _post_paid(
    row: PaymentOrder,
    *,
    paid_at: dt.datetime,
    by: User | None,
    items: list[PaymentOrderItem] | None = None,
) -> None:
    """Post a just-paid order's money to the ledger; money no open bill took is its excess."""
    excess = _post_to_ledger(order=row, paid_at=paid_at, by=by, items=items)
    if excess:
        PaymentOrder.objects.filter(pk=row.pk).update(excess_fen=excess)
        row.excess_fen = excess
        policy = settings.PAYMENTS_DOUBLE_PAYMENT
        alert_raise(
            kind=PaymentAlert.Kind.DOUBLE_PAYMENT,
            message=(
                f"订单所缴账单已被其他付款结清，多出 {excess} 分"
                + ("将自动退款。" if policy == "refund" else "已转入账户余额。")
            ),
            provider=row.provider,
            out_trade_no=row.out_trade_no,
            detail={"excess_fen": excess, "policy": policy},
        )
        if policy == "refund":
            _refund_excess_on_commit(row, excess)


_ORDER = PaymentOrder._meta.db_table
# Written out and prepared once per connection (every settled notify runs both): compiling them
# through the ORM cost several times what PostgreSQL spends running them.
# Table names come from the models; values are parameters.
_PAY_WAITING_SQL = (
    f"UPDATE {_ORDER} SET status = %s, transaction_id = %s, paid_fen = %s, paid_at = %s,"  # noqa: S608
    " receipt_no = CASE WHEN receipt_no = '' THEN out_trade_no ELSE receipt_no END,"
    " next_check_at = NULL, updated_at = %s"
    " WHERE provider = %s AND out_trade_no = %s AND amount_fen = %s"
    f" AND status IN ({', '.join(['%s'] * len(WAITING))}) RETURNING id"
)
_ITEMS_SQL = (
    "SELECT i.id, i.house_id, i.bill_id, i.amount_fen, h.account_no, b.house_id"  # noqa: S608
    f" FROM {PaymentOrderItem._meta.db_table} i"
    f" JOIN {House._meta.db_table} h ON h.id = i.house_id"
    f" LEFT JOIN {Bill._meta.db_table} b ON b.id = i.bill_id"
    " WHERE i.order_id = %s ORDER BY i.house_id, i.id"
)


def _deferred(model: type[M], db: str, **values: Any) -> M:
    """A row of `model` as read with `.only(*values)`: other fields load on first use."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(db, names, [values[name] for name in names])


def _items_for_ledger(order: PaymentOrder) -> list[PaymentOrderItem]:
    """The order's items with what the ledger needs of their houses and bills, in one join."""
    db = transaction.get_connection().alias
    items = []
    for item_id, house_id, bill_id, amount_fen, account_no, bill_house_id in rows.fetch(
        _ITEMS_SQL, [order.pk], [], name="payments_settle_items"
    ):
        item = _deferred(
            PaymentOrderItem,
            db,
            id=item_id,
            order_id=order.pk,
            house_id=house_id,
            bill_id=bill_id,
            amount_fen=amount_fen,
        )
        item.order = order
        item.house = _deferred(House, db, id=house_id, account_no=account_no)
        if bill_id is not None:
            item.bill = _deferred(Bill, db, id=bill_id, house_id=bill_house_id)
        items.append(item)
    return items


def order_settle_waiting(
    *,
    provider: str,
    out_trade_no: str,
    transaction_id: str,
    paid_fen: int,
    paid_at: dt.datetime | None = None,
) -> bool:
    """The common case of a provider confirming a payment, as one compare-and-set: the order
    still waiting for exactly `paid_fen` (created, pending or unknown) becomes PAID by
    `transaction_id`, and its money goes to the ledger, in the caller's transaction.

    False when no such order moved — unknown, another amount, paid already, closed or failed,
    or settled by a concurrent transaction that committed first: the caller then reads the
    order under its lock and hands it to `order_settle`, which answers each of those (alerts
    included). Nothing is written then, so the fallback starts clean.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("order_settle_waiting runs inside the caller's transaction")
    paid_at = paid_at or clock.now()
    when = PaymentOrder._meta.get_field("paid_at")
    # The UPDATE takes the order's row lock, as `select_for_update` would, and re-checks its
    # WHERE on the newest version if it had to wait: a twin that paid it first leaves 0 rows.
    # Online the receipt number is our order number, as in `order_settle`.
    moved = rows.fetch(
        _PAY_WAITING_SQL,
        [
            Status.PAID.value,
            transaction_id,
            paid_fen,
            when.get_db_prep_value(paid_at, connection),
            when.get_db_prep_value(clock.now(), connection),
            provider,
            out_trade_no,
            paid_fen,
            *sorted(status.value for status in WAITING),
        ],
        [],
        name="payments_settle_waiting",
    )
    if not moved:
        return False
    ((order_id,),) = moved
    # What the ledger and an excess need of the order; the rest is deferred.
    row = _deferred(
        PaymentOrder, connection.alias, id=order_id, provider=provider, out_trade_no=out_trade_no
    )
    _post_paid(row, paid_at=paid_at, by=None, items=_items_for_ledger(row))
    return True
