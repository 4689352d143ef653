"""Verified provider notifications: kept once per (provider, event id) and applied in the same
transaction, so a redelivery is acknowledged without being applied twice, and a crash before
commit leaves nothing behind (the provider delivers again).

`notify_apply` raises NotifyRejected for what the signature could not tell: an order we do not
know, or an amount other than the order's. The endpoint turns that into the provider's refusal
and `notify_rejected_record` keeps the raw request in an alert.
"""

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from heatdesk.core import clock
from heatdesk.core.inserts import insert_unless_duplicate
from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify
from heatdesk.payments.notify import PAYMENT, VerifiedNotify
from heatdesk.payments.providers.errors import NotifyRejected
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.common import Status, provider_time
from heatdesk.payments.services.notify_settle_sql import notify_settle_in_database
from heatdesk.payments.services.settlement import order_settle, order_settle_waiting

logger = logging.getLogger("heatdesk.payments.notifies")

RAW_BODY_MAX = 4000
RAW_HEADERS = ("content-type", "user-agent", "wechatpay-")


def _store(verified: VerifiedNotify) -> ProviderNotify | None:
    """The notify's row, or None when this event was stored before (a redelivery, or a twin
    delivery that committed first: the INSERT waits for it)."""
    notify = ProviderNotify(
        provider=verified.provider,
        event_id=verified.event_id[:128],
        kind=verified.kind,
        event_type=verified.event_type[:64],
        out_trade_no=verified.out_trade_no[:32],
        out_refund_no=verified.out_refund_no[:64],
        payload=verified.payload,
    )
    return notify if insert_unless_duplicate(notify) else None


def _paid_at(verified: VerifiedNotify) -> Any:
    payload = verified.payload
    return provider_time(str(payload.get("success_time") or payload.get("gmt_payment") or ""))


def _order(verified: VerifiedNotify, *, lock: bool) -> PaymentOrder:
    """The notify's order, refused when unknown or for another amount. `lock`: in full and
    `FOR UPDATE`, to hand to `order_settle`; otherwise the three fields the checks need."""
    orders = PaymentOrder.objects.filter(
        provider=verified.provider, out_trade_no=verified.out_trade_no
    )
    order = (
        orders.select_for_update().first()
        if lock
        else orders.only("pk", "amount_fen", "status").first()
    )
    if order is None:
        raise NotifyRejected("未知的商户订单号。", code="payment_notify_unknown_order")
    if verified.amount_fen != order.amount_fen:
        raise NotifyRejected(
            f"通知金额 {verified.amount_fen} 分与订单金额 {order.amount_fen} 分不符。",
            code="payment_notify_amount_mismatch",
        )
    return order


def _outcome(notify: ProviderNotify, outcome: str) -> ProviderNotify:
    if outcome != ProviderNotify.Outcome.APPLIED:
        ProviderNotify.objects.filter(pk=notify.pk).update(outcome=outcome)
        notify.outcome = outcome
    return notify


def notify_apply(verified: VerifiedNotify) -> ProviderNotify | None:
    """Store and apply a verified notify in one transaction. Returns the stored row, or None
    for a redelivery of an event already applied (acknowledge it, change nothing).

    A refusal (NotifyRejected: an order we do not know, another amount) rolls back the stored
    row with everything else."""
    if verified.kind == PAYMENT and verified.paid:
        # The common case in one statement on PostgreSQL; when it is not, nothing was written.
        answer = notify_settle_in_database(verified, paid_at=_paid_at(verified) or clock.now())
        if answer.answered:
            return answer.notify
    with transaction.atomic():
        if not (verified.kind == PAYMENT and verified.paid):
            _order(verified, lock=False)
            notify = _store(verified)
            if notify is None:
                return None
            if verified.kind != PAYMENT:
                from heatdesk.payments.services.refunds import refund_apply_notify

                # Refused (the order not confirmed paid yet, an unknown refund) → rolled back
                # with the stored row and not acknowledged, so the provider delivers it again.
                refund_apply_notify(verified)
                return notify
            return _outcome(notify, ProviderNotify.Outcome.NO_CHANGE)
        # A payment confirmed: the event is stored first, so a redelivery costs no order lock.
        notify = _store(verified)
        if notify is None:
            _order(verified, lock=False)  # still refused for an unknown order or amount
            return None
        paid_at = _paid_at(verified)
        # The common case, an order waiting for exactly this amount, is one compare-and-set.
        if order_settle_waiting(
            provider=verified.provider,
            out_trade_no=verified.out_trade_no,
            transaction_id=verified.transaction_id,
            paid_fen=verified.amount_fen,
            paid_at=paid_at,
        ):
            return notify
        # Anything else (unknown, another amount, paid already, closed or failed) is read under
        # the order's lock and answered by `order_settle`, whose errors roll back this whole
        # transaction: nothing here catches one.
        order = _order(verified, lock=True)
        before = order.status
        settled = order_settle(
            order=order,
            transaction_id=verified.transaction_id,
            paid_fen=verified.amount_fen,
            paid_at=paid_at,
            locked=True,
        )
        outcome = ProviderNotify.Outcome.NO_CHANGE
        if settled.status == Status.PAID and before != Status.PAID:
            outcome = (
                ProviderNotify.Outcome.ALERT
                if before in {Status.CLOSED, Status.FAILED}
                else ProviderNotify.Outcome.APPLIED
            )
        return _outcome(notify, outcome)


def raw_request(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """What an alert keeps of a refused request: the relevant headers and the body, truncated."""
    kept = {
        str(name): str(value)[:600]
        for name, value in headers.items()
        if str(name).lower().startswith(RAW_HEADERS)
    }
    text = body[:RAW_BODY_MAX].decode("utf-8", "replace")
    return {"headers": kept, "body": text, "body_bytes": len(body)}


def notify_rejected_record(
    *, provider: str, reason: str, headers: Mapping[str, str], body: bytes, out_trade_no: str = ""
) -> PaymentAlert:
    """An alert for a refused notify, with the raw request (possibly forged: finance looks)."""
    return alert_raise(
        kind=PaymentAlert.Kind.NOTIFY_REJECTED,
        message=f"回调被拒绝：{reason}",
        provider=provider,
        out_trade_no=out_trade_no,
        detail=raw_request(headers, body),
    )
