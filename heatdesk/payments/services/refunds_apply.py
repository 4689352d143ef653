"""Following a refund to its final state: the provider's answers (call, replay, query,
notify) move it forwards only, by compare-and-set; SUCCEEDED posts the ledger reversal in the
same transaction (`refunds_houses`); ABNORMAL raises an alert and waits for a person."""

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, NotFound
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Provider, Refund
from heatdesk.payments.notify import ALIPAY, VerifiedNotify
from heatdesk.payments.services import refunds_provider
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.refunds_houses import refund_post_to_ledger
from heatdesk.payments.services.refunds_provider import Outcome

logger = logging.getLogger("heatdesk.payments.refunds")
Status = Refund.Status
CHECK_AFTER = dt.timedelta(minutes=2)


def _fresh(refund: Refund) -> Refund:
    return Refund.objects.select_related("order").get(pk=refund.pk)


def _cas(refund: Refund, *, from_statuses: set[str], to: str, **fields: Any) -> bool:
    """Move the refund to `to` if its status is still one of `from_statuses` and the move is
    allowed. True if this call made the move."""
    allowed = {s for s in from_statuses if to in Refund.TRANSITIONS[s]}
    if not allowed:
        return False
    moved = Refund.objects.filter(pk=refund.pk, status__in=allowed).update(
        status=to, updated_at=clock.now(), **fields
    )
    if moved:
        refund.status = to
        for name, value in fields.items():
            setattr(refund, name, value)
    return bool(moved)


def _apply(refund: Refund, outcome: Outcome, *, by: User | None = None, via: str) -> Refund:
    """Apply a provider answer: forwards only; the unknown keeps the state."""
    with transaction.atomic():
        row = Refund.objects.select_related("order").select_for_update().get(pk=refund.pk)
        now = clock.now()
        fields: dict[str, Any] = {}
        if outcome.provider_refund_id and not row.provider_refund_id:
            fields["provider_refund_id"] = outcome.provider_refund_id[:64]
        target = outcome.status
        if target is None or target == row.status:
            Refund.objects.filter(pk=row.pk).update(
                next_check_at=now + CHECK_AFTER if row.status not in _FINAL else None,
                check_attempts=row.check_attempts + 1,
                **fields,
            )
            return _fresh(row)
        before = row.status
        extra: dict[str, Any] = {"next_check_at": None}
        if target == Status.SUCCEEDED:
            extra["succeeded_at"] = now
        if target == Status.ABNORMAL:
            extra["needs_attention"] = True
        if target == Status.CLOSED and outcome.failure:
            extra["failure"] = outcome.failure[:200]
        if not _cas(row, from_statuses={before}, to=target, **fields, **extra):
            return _fresh(row)  # not a forward move (e.g. SUCCEEDED is final): keep it
        audit_record(
            actor=by,
            action="payments.refund_status",
            obj=row,
            before={"status": before},
            after={"status": target, "via": via},
        )
        if target == Status.SUCCEEDED:
            refund_post_to_ledger(refund=row, by=by)
        elif target == Status.ABNORMAL:
            alert_raise(
                kind=PaymentAlert.Kind.REFUND_ABNORMAL,
                message=f"退款 {row.out_refund_no} 异常（如用户银行卡已注销），需人工处理。",
                provider=row.order.provider,
                out_trade_no=row.order.out_trade_no,
                detail={"out_refund_no": row.out_refund_no, "via": via},
            )
    return _fresh(row)


_FINAL = frozenset({Status.SUCCEEDED, Status.CLOSED, Status.REJECTED})


def _submit(refund: Refund) -> Refund:
    """Call the provider with the persisted request and apply its answer; a call whose
    outcome is unknown leaves the refund UNKNOWN (not failed) for a replay."""
    replay = refund.status == Status.UNKNOWN
    outcome = refunds_provider.submit(refund, refund.order, replay=replay)
    if outcome.status is None and refund.status == Status.PROCESSING and outcome.failure:
        outcome = Outcome(status=Status.UNKNOWN, failure=outcome.failure)
    return _apply(refund, outcome, via="refund_call")


def refund_sync(refund: Refund) -> Refund:
    """Bring the refund to the provider's truth: an UNKNOWN one is replayed exactly (same
    number, same amount; the provider refunds at most once), others are queried. An unknown
    answer keeps the state; nothing moves backwards."""
    refund = _fresh(refund)
    if refund.status in _FINAL or refund.status == Status.REQUESTED:
        return refund
    if refund.order.provider == Provider.COUNTER:
        return refund
    if refund.status == Status.UNKNOWN:
        return _submit(refund)
    return _apply(refund, refunds_provider.query(refund, refund.order), via="query")


def _order_paid(order: PaymentOrder) -> PaymentOrder:
    """A refund notify may overtake the payment's own notify: bring the order to the
    provider's truth first, by query (only outside a transaction: no network call while the
    notify's transaction holds the database)."""
    if order.status == PaymentOrder.Status.PAID or transaction.get_connection().in_atomic_block:
        return order
    from heatdesk.payments.services.sync import order_sync

    return order_sync(order)


def _sync_quietly(refund_pk: int) -> None:
    try:
        refund_sync(Refund.objects.get(pk=refund_pk))
    except Exception:
        logger.exception("refund %s: query after notify failed; the janitor retries", refund_pk)


def _alipay_notify(refund: Refund, notify: VerifiedNotify) -> None:
    """Alipay's refund notify carries the trade's cumulative refund_fee: this refund is done
    when the refunds already done plus this one are covered by it. Otherwise ask the refund
    query (after commit when inside the notify's transaction)."""
    done = (
        Refund.objects.filter(order=refund.order, status=Status.SUCCEEDED)
        .exclude(pk=refund.pk)
        .aggregate(total=Sum("amount_fen"))["total"]
    )
    cumulative = notify.refund_fen or 0
    if refund.status != Status.REQUESTED and int(done or 0) + refund.amount_fen <= cumulative:
        _apply(refund, Outcome(status=Status.SUCCEEDED), via="notify")
        return
    refund_pk = refund.pk
    transaction.on_commit(lambda: _sync_quietly(refund_pk))


def refund_apply_notify(notify: VerifiedNotify) -> None:
    """Apply a verified refund notify (WeChat REFUND.SUCCESS/ABNORMAL/CLOSED, Alipay refund).

    WeChat's notify carries the refund's own status and amount. Alipay's carries the
    cumulative refund_fee (see `_alipay_notify`). A notify that overtakes the order's payment
    (the order not PAID here yet) first queries the order; while it is still not PAID the
    notify is refused with `refund_order_not_paid` and so not acknowledged: the provider
    delivers it again. A notify for a refund we do not know is refused the same way
    (`refund_not_found`): every refund we start is committed before its provider call."""
    refund = (
        Refund.objects.select_related("order")
        .filter(out_refund_no=notify.out_refund_no, order__out_trade_no=notify.out_trade_no)
        .first()
    )
    if refund is None:
        raise NotFound("未找到该退款单。", code="refund_not_found")
    order = _order_paid(refund.order)
    if order.status != PaymentOrder.Status.PAID:
        raise Conflict("订单尚未确认支付，稍后重试。", code="refund_order_not_paid")
    if notify.provider == ALIPAY:
        _alipay_notify(refund, notify)
        return
    if notify.refund_fen is not None and notify.refund_fen != refund.amount_fen:
        alert_raise(
            kind=PaymentAlert.Kind.REFUND_ABNORMAL,
            message=f"退款回调金额 {notify.refund_fen} 分与退款单 {refund.amount_fen} 分不符",
            provider=notify.provider,
            out_trade_no=notify.out_trade_no,
            detail={"out_refund_no": refund.out_refund_no, "event_id": notify.event_id},
        )
        return
    status = refunds_provider.WECHAT_STATUS.get(notify.status)
    if status is None or refund.status == Status.REQUESTED:
        # Not a final word, or a refund we never sent (a provider cannot have it).
        return
    refund_id = str(notify.payload.get("refund_id", ""))
    _apply(refund, Outcome(status=status, provider_refund_id=refund_id), via="notify")
