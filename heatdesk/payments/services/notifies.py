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

from django.db import IntegrityError, transaction

from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify
from heatdesk.payments.notify import PAYMENT, VerifiedNotify
from heatdesk.payments.providers.errors import NotifyRejected
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.common import Status, provider_time
from heatdesk.payments.services.settlement import order_settle

logger = logging.getLogger("heatdesk.payments.notifies")

RAW_BODY_MAX = 4000
RAW_HEADERS = ("content-type", "user-agent", "wechatpay-")


def _store(verified: VerifiedNotify) -> ProviderNotify | None:
    """The notify's row, or None when this event was stored before (a redelivery)."""
    try:
        with transaction.atomic():
            return ProviderNotify.objects.create(
                provider=verified.provider,
                event_id=verified.event_id[:128],
                kind=verified.kind,
                event_type=verified.event_type[:64],
                out_trade_no=verified.out_trade_no[:32],
                out_refund_no=verified.out_refund_no[:64],
                payload=verified.payload,
            )
    except IntegrityError:
        return None


def _paid_at(verified: VerifiedNotify) -> Any:
    payload = verified.payload
    return provider_time(str(payload.get("success_time") or payload.get("gmt_payment") or ""))


def notify_apply(verified: VerifiedNotify) -> ProviderNotify | None:
    """Store and apply a verified notify in one transaction. Returns the stored row, or None
    for a redelivery of an event already applied (acknowledge it, change nothing)."""
    settles = verified.kind == PAYMENT and verified.paid
    with transaction.atomic():
        orders = PaymentOrder.objects.filter(
            provider=verified.provider, out_trade_no=verified.out_trade_no
        )
        # A payment notify that settles reads the order once, in full and locked, and hands
        # that row to `order_settle` (whose errors roll back this whole transaction: nothing
        # here catches one); anything else needs three fields and no lock.
        order = (
            orders.select_for_update().first()
            if settles
            else orders.only("pk", "amount_fen", "status").first()
        )
        if order is None:
            raise NotifyRejected("未知的商户订单号。", code="payment_notify_unknown_order")
        if verified.amount_fen != order.amount_fen:
            raise NotifyRejected(
                f"通知金额 {verified.amount_fen} 分与订单金额 {order.amount_fen} 分不符。",
                code="payment_notify_amount_mismatch",
            )
        notify = _store(verified)
        if notify is None:
            return None
        if verified.kind != PAYMENT:
            from heatdesk.payments.services.refunds import refund_apply_notify

            # Refused (the order not confirmed paid yet, an unknown refund) → rolled back with
            # the stored row and not acknowledged, so the provider delivers it again.
            refund_apply_notify(verified)
            return notify
        outcome = ProviderNotify.Outcome.NO_CHANGE
        if settles:
            before = order.status
            settled = order_settle(
                order=order,
                transaction_id=verified.transaction_id,
                paid_fen=verified.amount_fen,
                paid_at=_paid_at(verified),
                locked=True,
            )
            if settled.status == Status.PAID and before != Status.PAID:
                outcome = (
                    ProviderNotify.Outcome.ALERT
                    if before in {Status.CLOSED, Status.FAILED}
                    else ProviderNotify.Outcome.APPLIED
                )
        if outcome != ProviderNotify.Outcome.APPLIED:
            ProviderNotify.objects.filter(pk=notify.pk).update(outcome=outcome)
            notify.outcome = outcome
        return notify


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
