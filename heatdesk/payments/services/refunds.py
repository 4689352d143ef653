"""Refunds: requested by staff, approved by finance (another person), sent to the provider
under a number committed before the call, followed by query and notify until the provider's
answer is final; on success the billing ledger takes the money back, exactly once.

This module takes the decisions (request, approve, reject, automatic refunds);
`refunds_apply` follows the provider, `refunds_houses` posts the ledger reversal,
`refunds_counter` pays a counter refund out of a collector's shift. The public names stay
importable from here.

Rules kept here (payments.md §4.3, §4.4 invariants 3, 4, 6–8, 15):
* the sum of holding refunds (not REJECTED/CLOSED) never exceeds what the order was paid,
  checked under a row lock on the order; WeChat: at most 50 refunds and within a year;
* a provider call runs outside any transaction, after the status move that allows it
  (REQUESTED → PROCESSING) has committed; a timeout or 5xx is UNKNOWN, never a failure, and a
  retry replays the persisted request (same number, same amount);
* the status moves by compare-and-set and only forwards (Refund.TRANSITIONS); SUCCEEDED posts
  `ledger_reverse_payment` in the same transaction; ABNORMAL raises an alert and waits for a
  person; CLOSED frees the amount for a new refund with a new number;
* a counter order's refund is money in a drawer: approval moves it to PROCESSING (待柜台付款)
  with nothing posted, and only a collector's payout (`refund_cash_payout`) makes it SUCCEEDED.
"""

import datetime as dt
import logging
import secrets
from typing import Any

from django.db import transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from heatdesk.payments.models import PaymentOrder, Provider, Refund
from heatdesk.payments.services import refunds_provider
from heatdesk.payments.services.refunds_apply import (
    CHECK_AFTER,
    _cas,
    _fresh,
    _submit,
    refund_apply_notify,
    refund_sync,
)
from heatdesk.payments.services.refunds_counter import refund_cash_payout
from heatdesk.payments.services.refunds_houses import LEDGER_SOURCE, refund_split

__all__ = [
    "LEDGER_SOURCE",
    "refund_apply_notify",
    "refund_approve",
    "refund_cash_payout",
    "refund_create_automatic",
    "refund_reject",
    "refund_request",
    "refund_split",
    "refund_sync",
    "refundable_fen",
]

logger = logging.getLogger("heatdesk.payments.refunds")
Status = Refund.Status
MAX_WECHAT_REFUNDS = 50
REFUND_WINDOW = dt.timedelta(days=365)
_NO_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def out_refund_no_mint() -> str:
    """'RF' + Beijing date + 16 random characters: unique (a database constraint backs it),
    valid for WeChat's out_refund_no and Alipay's out_request_no."""
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d")
    return f"RF{stamp}" + "".join(secrets.choice(_NO_ALPHABET) for _ in range(16))


# --- Requesting ---------------------------------------------------------------------------------


def _checked_amount(amount_fen: Any) -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationFailed(
            "退款金额须为正整数（分）。", fields={"amount_fen": ["退款金额须为正整数（分）。"]}
        )
    return amount_fen


def _checked_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationFailed(
            "请填写退款原因（1–200个字符）。",
            fields={"reason": ["请填写退款原因（1–200个字符）。"]},
        )
    return reason


def refundable_fen(order: PaymentOrder) -> int:
    """What may still be refunded: the paid amount less every holding refund."""
    held = Refund.objects.filter(order=order, status__in=Refund.HOLDING).aggregate(
        total=Sum("amount_fen")
    )["total"]
    return (order.paid_fen or order.amount_fen) - int(held or 0)


def _new_refund(
    *,
    order: PaymentOrder,
    amount_fen: int,
    reason: str,
    by: User | None,
    status: str,
    automatic: bool,
) -> Refund:
    """Check the order's limits and create the refund; the caller holds the order's row lock."""
    if order.status != PaymentOrder.Status.PAID:
        raise Conflict(
            f"订单状态为“{order.get_status_display()}”，只有已支付的订单可以退款。",
            code="refund_order_not_paid",
        )
    left = refundable_fen(order)
    if amount_fen > left:
        raise Conflict(
            f"退款金额超过可退金额 {left / 100:.2f} 元。",
            code="refund_exceeds_paid",
            fields={"amount_fen": [f"最多可退 {max(left, 0)} 分。"]},
        )
    if order.provider == Provider.WECHATPAY:
        count = Refund.objects.filter(order=order, status__in=Refund.HOLDING).count()
        if count >= MAX_WECHAT_REFUNDS:
            raise Conflict("微信支付每笔订单最多退款 50 次。", code="refund_limit_reached")
        paid_at = order.paid_at or order.created_at
        if clock.now() - paid_at > REFUND_WINDOW:
            raise Conflict("微信支付订单支付超过一年，不能退款。", code="refund_window_passed")
    number = out_refund_no_mint()
    request = (
        refunds_provider.request_build(
            order=order, out_refund_no=number, amount_fen=amount_fen, reason=reason
        )
        if status == Status.PROCESSING
        else ""
    )
    return Refund.objects.create(
        order=order,
        out_refund_no=number,
        amount_fen=amount_fen,
        reason=reason,
        status=status,
        automatic=automatic,
        requested_by=by,
        provider_request=request,
        next_check_at=clock.now() + CHECK_AFTER if status == Status.PROCESSING else None,
    )


def _lock_order(order: PaymentOrder) -> PaymentOrder:
    return PaymentOrder.objects.select_for_update().get(pk=order.pk)


def refund_request(*, order: PaymentOrder, amount_fen: int, reason: str, by: User) -> Refund:
    """A staff member asks to give back part or all of a paid order; finance approves it.

    The amount is reserved at once (it counts against what may still be refunded), under the
    order's row lock, so two requests at the same moment can never together exceed the paid
    amount. The refund number is minted and committed here, before any provider call."""
    if not by.has_perm("payments.request_refund"):
        raise PermissionDenied("没有申请退款的权限。", code="forbidden")
    amount_fen = _checked_amount(amount_fen)
    reason = _checked_reason(reason)
    with transaction.atomic():
        locked = _lock_order(order)
        refund = _new_refund(
            order=locked,
            amount_fen=amount_fen,
            reason=reason,
            by=by,
            status=Status.REQUESTED,
            automatic=False,
        )
        audit_record(
            actor=by,
            action="payments.refund_request",
            obj=refund,
            after={
                "out_trade_no": locked.out_trade_no,
                "out_refund_no": refund.out_refund_no,
                "amount_fen": amount_fen,
            },
            reason=reason,
        )
    return refund


def refund_create_automatic(*, order: PaymentOrder, amount_fen: int, reason: str) -> Refund:
    """Refund the second payment of a bill already paid, as the company configured (no
    approval: the configuration is the decision; audited as the system).

    Runs in the settlement's transaction when there is one; the provider is called after it
    commits. A counter payment's money is in a drawer, so there the refund waits for
    finance's approval like any other (then a collector pays it out)."""
    amount_fen = _checked_amount(amount_fen)
    reason = _checked_reason(reason)
    counter = order.provider == Provider.COUNTER
    with transaction.atomic():
        locked = _lock_order(order)
        refund = _new_refund(
            order=locked,
            amount_fen=amount_fen,
            reason=reason,
            by=None,
            status=Status.REQUESTED if counter else Status.PROCESSING,
            automatic=True,
        )
        audit_record(
            actor=None,
            action="payments.refund_automatic",
            obj=refund,
            after={
                "out_trade_no": locked.out_trade_no,
                "out_refund_no": refund.out_refund_no,
                "amount_fen": amount_fen,
            },
            reason=reason,
        )
        if not counter:
            refund_pk = refund.pk
            transaction.on_commit(lambda: _submit_after_commit(refund_pk))
    return refund


def _submit_after_commit(refund_pk: int) -> None:
    try:
        _submit(Refund.objects.select_related("order").get(pk=refund_pk))
    except Exception:
        # The refund stays PROCESSING with a check time: the janitor's sync picks it up.
        logger.exception("automatic refund %s: provider call failed", refund_pk)


# --- Deciding -----------------------------------------------------------------------------------


def _approver(refund: Refund, by: User) -> None:
    if not by.has_perm("payments.approve_refund"):
        raise PermissionDenied("没有审批退款的权限。", code="forbidden")
    if refund.requested_by_id is not None and refund.requested_by_id == by.pk:
        raise Conflict("申请人不能审批自己的退款申请。", code="refund_same_person")


def _not_requested(refund: Refund) -> Conflict:
    return Conflict(
        f"退款状态为“{refund.get_status_display()}”，不能再审批。", code="refund_not_pending"
    )


def refund_approve(*, refund: Refund, by: User) -> Refund:
    """Finance approves a requested refund (never the person who asked for it).

    REQUESTED → PROCESSING by compare-and-set. Online orders: the exact provider request is
    persisted and committed, then the call; its answer moves the refund on (a timeout leaves
    it UNKNOWN). Counter orders: nothing is posted yet; the refund waits for a collector to
    pay it out of an open shift (`refund_cash_payout`), which makes it SUCCEEDED."""
    _approver(refund, by)
    order = refund.order
    now = clock.now()
    counter = order.provider == Provider.COUNTER
    with transaction.atomic():
        fields: dict[str, Any] = {"decided_by": by, "decided_at": now}
        if counter:
            fields["decision_note"] = "柜台退款：待收费员当班付款"
        else:
            fields["provider_request"] = refunds_provider.request_build(
                order=order,
                out_refund_no=refund.out_refund_no,
                amount_fen=refund.amount_fen,
                reason=refund.reason,
            )
            fields["next_check_at"] = now + CHECK_AFTER
        moved = _cas(refund, from_statuses={Status.REQUESTED}, to=Status.PROCESSING, **fields)
        if not moved:
            raise _not_requested(refund)
        audit_record(
            actor=by,
            action="payments.refund_approve",
            obj=refund,
            before={"status": Status.REQUESTED},
            after={"status": Status.PROCESSING, "amount_fen": refund.amount_fen},
        )
    if counter:
        return _fresh(refund)
    return _submit(_fresh(refund))


def refund_reject(*, refund: Refund, by: User, note: str) -> Refund:
    """Finance turns a request down; its amount is free again."""
    if not by.has_perm("payments.approve_refund"):
        raise PermissionDenied("没有审批退款的权限。", code="forbidden")
    note = (note or "").strip()
    if not note or len(note) > 200:
        raise ValidationFailed(
            "请填写驳回理由（1–200个字符）。", fields={"note": ["请填写驳回理由（1–200个字符）。"]}
        )
    with transaction.atomic():
        moved = _cas(
            refund,
            from_statuses={Status.REQUESTED},
            to=Status.REJECTED,
            decided_by=by,
            decided_at=clock.now(),
            decision_note=note,
        )
        if not moved:
            raise _not_requested(refund)
        audit_record(
            actor=by,
            action="payments.refund_reject",
            obj=refund,
            before={"status": Status.REQUESTED},
            after={"status": Status.REJECTED},
            reason=note,
        )
    return _fresh(refund)
