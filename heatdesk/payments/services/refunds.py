"""Refunds: requested by staff, approved by finance (another person), sent to the provider
under a number committed before the call, followed by query and notify until the provider's
answer is final; on success the billing ledger takes the money back, exactly once.

Rules kept here (payments.md §4.3, §4.4 invariants 3, 4, 6–8, 15):
* the sum of holding refunds (not REJECTED/CLOSED) never exceeds what the order was paid,
  checked under a row lock on the order; WeChat: at most 50 refunds and within a year;
* a provider call runs outside any transaction, after the status move that allows it
  (REQUESTED → PROCESSING) has committed; a timeout or 5xx is UNKNOWN, never a failure, and a
  retry replays the persisted request (same number, same amount);
* the status moves by compare-and-set and only forwards (Refund.TRANSITIONS); SUCCEEDED posts
  `ledger_reverse_payment` in the same transaction; ABNORMAL raises an alert and waits for a
  person; CLOSED frees the amount for a new refund with a new number.
"""

import datetime as dt
import logging
import secrets
from typing import Any

from django.db import transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.models import LedgerEntry
from heatdesk.billing.services.ledger import ledger_reverse_payment
from heatdesk.core import clock
from heatdesk.core.errors import (
    ApplicationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from heatdesk.estates.models import House
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Provider, Refund
from heatdesk.payments.notify import ALIPAY, VerifiedNotify
from heatdesk.payments.services import refunds_provider
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.refunds_provider import Outcome

logger = logging.getLogger("heatdesk.payments.refunds")
Status = Refund.Status
MAX_WECHAT_REFUNDS = 50
REFUND_WINDOW = dt.timedelta(days=365)
CHECK_AFTER = dt.timedelta(minutes=2)
LEDGER_SOURCE = "refund"
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
    commits. A counter payment's money is cash in a drawer, so there the refund waits for
    finance's approval like any other (the collector pays it out)."""
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

    Online orders: REQUESTED → PROCESSING with the exact provider request persisted, committed,
    then the call; its answer moves the refund on (a timeout leaves it UNKNOWN). Counter
    orders: the collector pays the cash out, so the refund succeeds at once and the shift's
    expected cash is lower by it."""
    _approver(refund, by)
    order = refund.order
    now = clock.now()
    if order.provider == Provider.COUNTER:
        with transaction.atomic():
            note = "柜台现金退款：由收费员当班付现，计入班次应收现金的减项"
            moved = _cas(
                refund,
                from_statuses={Status.REQUESTED},
                to=Status.SUCCEEDED,
                decided_by=by,
                decided_at=now,
                decision_note=note,
                succeeded_at=now,
            )
            if not moved:
                raise _not_requested(refund)
            audit_record(
                actor=by,
                action="payments.refund_approve",
                obj=refund,
                before={"status": Status.REQUESTED},
                after={"status": Status.SUCCEEDED, "amount_fen": refund.amount_fen},
            )
            _on_succeeded(refund, by=by)
        return _fresh(refund)
    with transaction.atomic():
        request = refunds_provider.request_build(
            order=order,
            out_refund_no=refund.out_refund_no,
            amount_fen=refund.amount_fen,
            reason=refund.reason,
        )
        moved = _cas(
            refund,
            from_statuses={Status.REQUESTED},
            to=Status.PROCESSING,
            decided_by=by,
            decided_at=now,
            provider_request=request,
            next_check_at=now + CHECK_AFTER,
        )
        if not moved:
            raise _not_requested(refund)
        audit_record(
            actor=by,
            action="payments.refund_approve",
            obj=refund,
            before={"status": Status.REQUESTED},
            after={"status": Status.PROCESSING, "amount_fen": refund.amount_fen},
        )
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


# --- Following the provider ---------------------------------------------------------------------


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


def _house_shares(order: PaymentOrder) -> list[tuple[House, str, int]]:
    """Each house of the order with its ledger payment id and share, as settlement posted them
    (houses in primary-key order, `ledger_source_id` numbering)."""
    from heatdesk.payments.services.settlement import ledger_source_id

    shares: dict[int, int] = {}
    houses: dict[int, House] = {}
    for item in order.items.select_related("house").order_by("house_id", "id"):
        shares[item.house_id] = shares.get(item.house_id, 0) + item.amount_fen
        houses[item.house_id] = item.house
    ids = sorted(shares)
    return [
        (houses[h], ledger_source_id(order, index=i, houses=len(ids)), shares[h])
        for i, h in enumerate(ids)
    ]


def refund_split(*, shares: list[int], reversed_fen: list[int], amount_fen: int) -> list[int]:
    """Split a refund over the houses of one order in proportion to their shares.

    Aims at the running total: after this refund each house should have had back its share of
    everything refunded so far, rounded down, less what it already had back; the fen left over
    by rounding go one each to the houses furthest below their exact share (earlier houses
    first on a tie). No part is negative and no house gets back more than it paid, so partial
    refunds add up to exactly each house's share once the order is refunded in full. Refused
    (ValueError) when the amount exceeds what is left or a house already had back more than
    its share (then a person posts it)."""
    total = sum(shares)
    target = sum(reversed_fen) + amount_fen
    if total <= 0 or amount_fen < 0 or target > total:
        raise ValueError("refund exceeds the order")
    if any(back < 0 or back > share for share, back in zip(shares, reversed_fen, strict=True)):
        raise ValueError("earlier reversals exceed a house's share")
    room = [share - back for share, back in zip(shares, reversed_fen, strict=True)]
    parts = [
        min(max(target * share // total - back, 0), free)
        for share, back, free in zip(shares, reversed_fen, room, strict=True)
    ]

    def below(i: int) -> int:
        """How far house i would stay below its exact share, times `total`."""
        return target * shares[i] - (reversed_fen[i] + parts[i]) * total

    indices = range(len(shares))
    while sum(parts) > amount_fen:  # rounding up to zero elsewhere: take from the furthest above
        i = min((i for i in indices if parts[i] > 0), key=lambda i: (below(i), -i))
        parts[i] -= 1
    while sum(parts) < amount_fen:
        i = max((i for i in indices if parts[i] < room[i]), key=lambda i: (below(i), -i))
        parts[i] += 1
    return parts


def _refunded_per_house(
    order: PaymentOrder, shares: list[tuple[House, str, int]], *, refund: Refund
) -> list[int]:
    """What each house already had back by other refunds of the order (not this one, so that
    a repeat splits exactly as the first time)."""
    out = []
    for _, payment_source_id, _ in shares:
        entries = LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.REFUND,
            source=LEDGER_SOURCE,
            reverses__source=order.provider,
            reverses__source_id=payment_source_id,
        )
        done = entries.exclude(source_id__startswith=f"{refund.out_refund_no}-").aggregate(
            total=Sum("amount_fen")
        )["total"]
        out.append(int(done or 0))
    return out


def _on_succeeded(refund: Refund, *, by: User | None) -> None:
    """The money is back with the payer: the ledger takes it back off the house's account, in
    the transaction that moved the status (the source id makes a repeat a no-op). An order for
    several houses gives back from each house in proportion to its share (`refund_split`),
    each part under the refund number with the house's ordinal appended."""
    order = refund.order
    shares = _house_shares(order)
    reason = f"退款 {refund.out_refund_no}：{refund.reason}"
    try:
        with transaction.atomic():
            if len(shares) == 1:
                house, payment_source_id, _ = shares[0]
                parts = [(house, payment_source_id, refund.amount_fen, refund.out_refund_no)]
            else:
                try:
                    split = refund_split(
                        shares=[share for _, _, share in shares],
                        reversed_fen=_refunded_per_house(order, shares, refund=refund),
                        amount_fen=refund.amount_fen,
                    )
                except ValueError as exc:
                    raise Conflict(
                        "该订单涉及多个房屋，退款无法按各户份额分摊，须人工入账。",
                        code="refund_ledger_multi_house",
                    ) from exc
                parts = [
                    (house, payment_source_id, part, f"{refund.out_refund_no}-{i + 1}")
                    for i, ((house, payment_source_id, _), part) in enumerate(
                        zip(shares, split, strict=True)
                    )
                ]
            for house, payment_source_id, amount, source_id in parts:
                if amount <= 0:
                    continue
                ledger_reverse_payment(
                    house=house,
                    payment_source=order.provider,
                    payment_source_id=payment_source_id,
                    amount_fen=amount,
                    source=LEDGER_SOURCE,
                    source_id=source_id,
                    reason=reason,
                    by=by,
                )
    except ApplicationError as exc:
        # The provider has paid the money back; the ledger could not follow by itself.
        Refund.objects.filter(pk=refund.pk).update(needs_attention=True)
        alert_raise(
            kind=PaymentAlert.Kind.REFUND_ABNORMAL,
            message=f"退款 {refund.out_refund_no} 已退款，但户账未能自动冲回：{exc.message}",
            provider=order.provider,
            out_trade_no=order.out_trade_no,
            detail={"out_refund_no": refund.out_refund_no, "code": exc.code},
        )


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
            _on_succeeded(row, by=by)
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
