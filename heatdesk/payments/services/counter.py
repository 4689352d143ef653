"""Counter payments (柜台收费): a collector takes cash, a bank card (POS) or a bank transfer for a
house's bills, and a supervisor may void one while its shift is still open.

A counter payment is a payment order like any other (provider "counter"): created with its
items, then settled through `order_settle` with the receipt number as its transaction id, so
the ledger sees one settlement path for every channel. Rules kept here:

* It needs the collector's open shift, locked for the whole transaction: a payment and the
  shift's close never interleave, and a closed shift takes nothing.
* The amount defaults to what the chosen bills (or the whole house) owe today, late fee and
  discount included, computed on the server. The collector may take another amount (> 0): less
  is a partial payment of the chosen bills, oldest first; more becomes account credit.
* Idempotency-Key: the order number is derived from (collector, key), so the unique order
  number makes a double click record once — even two clicks at the same instant. The same key
  with a different request is refused.
* Void: by someone else holding `payments.void_counter_payment`, with a reason, only while the
  shift is open; PAID → VOIDED by compare-and-set, and the ledger takes the money back.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.models import Bill
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.billing.selectors.account import account_summary
from heatdesk.billing.services.ledger import MAX_PAYMENT_FEN
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from heatdesk.core.ids import new_short_code
from heatdesk.estates.models import House
from heatdesk.payments.models import (
    Channel,
    CounterShift,
    PaymentOrder,
    PaymentOrderItem,
    Provider,
    Refund,
)
from heatdesk.payments.models.orders import COUNTER_CHANNELS
from heatdesk.payments.services.common import Status, order_cas

TAKE = "payments.take_counter_payment"
SUPERVISE = "payments.void_counter_payment"
NEEDS_REFERENCE = frozenset({Channel.POS, Channel.TRANSFER})
MAX_BILLS = 20
REFERENCE_MAX = 64
REASON_MAX = 200
VOID_SOURCE = "void"


def counter_out_trade_no(*, collector: User, idempotency_key: str) -> str:
    """'CT' + 30 hex characters of a hash of (collector, key): the same click, the same number."""
    digest = hashlib.sha256(f"counter:{collector.pk}:{idempotency_key}".encode()).hexdigest()
    return "CT" + digest[:30].upper()


def receipt_no_mint() -> str:
    """收据号: Beijing date + 6 readable characters, e.g. 20261120-7K3M9Q."""
    return f"{clock.to_local(clock.now()):%Y%m%d}-{new_short_code(6)}"


def _fingerprint(**parts: object) -> str:
    text = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Item:
    bill: Bill | None
    amount_fen: int
    late_fee_fen: int


def _check(
    *,
    house: House,
    bills: Sequence[Bill] | None,
    channel: str,
    amount_fen: int | None,
    reference: str,
) -> None:
    fields: dict[str, list[str]] = {}
    if channel not in COUNTER_CHANNELS:
        fields["channel"] = [f"可选：{', '.join(sorted(COUNTER_CHANNELS))}"]
    if channel in NEEDS_REFERENCE and not reference:
        fields["reference"] = ["刷卡或转账须填写凭证号（POS 参考号或银行流水号）。"]
    if len(reference) > REFERENCE_MAX:
        fields["reference"] = [f"凭证号最多 {REFERENCE_MAX} 个字符。"]
    if amount_fen is not None and (
        isinstance(amount_fen, bool)
        or not isinstance(amount_fen, int)
        or not 0 < amount_fen <= MAX_PAYMENT_FEN
    ):
        fields["amount_fen"] = ["金额须为正整数（分），且不超过上限。"]
    if bills:
        if len(bills) > MAX_BILLS:
            fields["bill_ids"] = [f"一次最多 {MAX_BILLS} 张账单。"]
        elif len({b.pk for b in bills}) != len(bills):
            fields["bill_ids"] = ["同一账单只能选一次。"]
        elif any(b.house_id != house.pk for b in bills):
            fields["bill_ids"] = ["账单不属于该房屋。"]
    if fields:
        raise ValidationFailed("请检查填写的内容。", fields=fields)


def _items(*, house: House, bills: Sequence[Bill] | None, amount_fen: int | None) -> list[_Item]:
    """What the payment is for, as of today. Money beyond the chosen bills' due is credit."""
    today = clock.local_today()
    if not bills:
        due = account_summary(house=house, as_of=today).due_fen
        amount = due if amount_fen is None else amount_fen
        if amount <= 0:
            raise Conflict("该房屋当前没有欠费；如需预缴，请填写金额。", code="nothing_to_pay")
        return [_Item(bill=None, amount_fen=amount, late_fee_fen=0)]
    rows = (
        Bill.objects.filter(pk__in=[b.pk for b in bills])
        .select_related("season")
        .order_by("season__heating_start", "id")
    )
    dues: list[tuple[Bill, int, int]] = []
    for bill in rows:
        if bill.status not in OPEN:
            raise Conflict(
                f"账单 {bill.public_id} 状态为“{bill.get_status_display()}”，不能缴费。",
                code="bill_not_payable",
            )
        now_due = bill_due_as_of(bill=bill, as_of=today)
        late = now_due.late_fee.amount_fen if now_due.late_fee is not None else 0
        dues.append((bill, now_due.due_fen, late))
    left = sum(d for _, d, _ in dues) if amount_fen is None else amount_fen
    items: list[_Item] = []
    for bill, due_fen, late in dues:
        take = min(due_fen, left)
        if take > 0:
            items.append(
                _Item(bill=bill, amount_fen=take, late_fee_fen=late if take == due_fen else 0)
            )
            left -= take
    if left > 0:
        items.append(_Item(bill=None, amount_fen=left, late_fee_fen=0))
    if not items:
        raise Conflict("所选账单当前无需缴费。", code="nothing_to_pay")
    return items


def _replay(*, out_trade_no: str, fingerprint: str) -> PaymentOrder | None:
    earlier = PaymentOrder.objects.filter(out_trade_no=out_trade_no).first()
    if earlier is not None and earlier.request_fingerprint != fingerprint:
        raise Conflict("该 Idempotency-Key 已用于另一笔不同的收费。", code="idempotency_key_reused")
    return earlier


def counter_payment_record(
    *,
    collector: User,
    house: House,
    bills: Sequence[Bill] | None = None,
    channel: str,
    amount_fen: int | None = None,
    reference: str = "",
    idempotency_key: str,
) -> PaymentOrder:
    """Record money taken at the counter for `house` (its chosen `bills`, or all it owes) in
    the collector's open shift, settle it onto the ledger and mint its receipt number."""
    from heatdesk.payments.services.settlement import order_settle

    if not collector.has_perm(TAKE):
        raise PermissionDenied("没有柜台收费权限。", code="forbidden")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 255:
        raise ApplicationError(
            "请求头须带 Idempotency-Key（1–255 个字符），重复提交时保持不变。",
            code="idempotency_key_required",
        )
    reference = (reference or "").strip()
    _check(house=house, bills=bills, channel=channel, amount_fen=amount_fen, reference=reference)
    out_trade_no = counter_out_trade_no(collector=collector, idempotency_key=key)
    fingerprint = _fingerprint(
        house=house.pk,
        bills=",".join(str(pk) for pk in sorted(b.pk for b in bills or [])),
        channel=channel,
        amount=amount_fen if amount_fen is not None else "",
        reference=reference,
    )
    earlier = _replay(out_trade_no=out_trade_no, fingerprint=fingerprint)
    if earlier is not None:
        return earlier
    for _attempt in range(3):
        try:
            with transaction.atomic():
                shift = (
                    CounterShift.objects.select_for_update()
                    .filter(collector=collector, status=CounterShift.Status.OPEN)
                    .first()
                )
                if shift is None:
                    raise Conflict("请先开班再收费。", code="no_open_shift")
                items = _items(house=house, bills=bills, amount_fen=amount_fen)
                amount = sum(item.amount_fen for item in items)
                receipt_no = receipt_no_mint()
                order = PaymentOrder.objects.create(
                    out_trade_no=out_trade_no,
                    provider=Provider.COUNTER,
                    channel=channel,
                    amount_fen=amount,
                    description=f"柜台缴费-{house.account_no}"[:127],
                    collector=collector,
                    shift=shift,
                    receipt_no=receipt_no,
                    counter_reference=reference,
                    idempotency_key=key,
                    request_fingerprint=fingerprint,
                )
                PaymentOrderItem.objects.bulk_create(
                    [
                        PaymentOrderItem(
                            order=order,
                            house=house,
                            bill=item.bill,
                            amount_fen=item.amount_fen,
                            late_fee_fen=item.late_fee_fen,
                        )
                        for item in items
                    ]
                )
                order = order_settle(
                    order=order,
                    transaction_id=receipt_no,
                    paid_fen=amount,
                    paid_at=clock.now(),
                    by=collector,
                )
                if order.status != Status.PAID:
                    raise RuntimeError(f"counter order {order.out_trade_no} did not settle")
                audit_record(
                    actor=collector,
                    action="payments.counter_payment_record",
                    obj=order,
                    after={
                        "house": house.account_no,
                        "channel": channel,
                        "amount_fen": amount,
                        "receipt_no": receipt_no,
                        "shift": shift.public_id,
                        "bills": [item.bill.public_id for item in items if item.bill],
                        "reference": reference,
                    },
                )
            return order
        except IntegrityError:
            # Either a concurrent click with the same key committed first (its order is ours),
            # or the receipt number collided (then try again with a fresh one).
            earlier = _replay(out_trade_no=out_trade_no, fingerprint=fingerprint)
            if earlier is not None:
                return earlier
    raise RuntimeError("could not mint a unique receipt number")


def counter_payment_void(*, order: PaymentOrder, supervisor: User, reason: str) -> PaymentOrder:
    """Void a counter payment taken in error (wrong house, wrong amount): the money leaves the
    account and its bills reopen. Only while its shift is open; after the close the cash has
    been handed over and a refund is the way."""
    from heatdesk.billing.services.ledger import ledger_reverse_payment
    from heatdesk.payments.services.settlement import ledger_source_id

    if not supervisor.has_perm(SUPERVISE):
        raise PermissionDenied("作废柜台缴费需要主管权限。", code="forbidden")
    if order.provider != Provider.COUNTER:
        raise Conflict("只有柜台缴费可以作废。", code="not_counter_payment")
    if supervisor.pk == order.collector_id:
        raise PermissionDenied(
            "收费员不能作废自己收取的缴费，请由另一位主管操作。", code="void_by_collector"
        )
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed(
            "请填写作废原因。", fields={"reason": [f"须填写，最多 {REASON_MAX} 个字。"]}
        )
    with transaction.atomic():
        # Lock order: the shift first (as payments and the close do), then the order.
        shift = (
            CounterShift.objects.select_for_update().filter(pk=order.shift_id).first()
            if order.shift_id is not None
            else None
        )
        if shift is None:
            raise Conflict("该笔缴费没有班次记录，不能作废。", code="payment_not_voidable")
        if shift.status != CounterShift.Status.OPEN:
            raise Conflict(
                "该笔缴费所在班次已结班，不能作废；如需退还，请走退款流程。",
                code="shift_closed",
            )
        row = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        if row.status != Status.PAID:
            raise Conflict(
                f"该笔缴费状态为“{row.get_status_display()}”，不能作废。",
                code="payment_not_voidable",
            )
        if Refund.objects.filter(order=row, status__in=Refund.HOLDING).exists():
            raise Conflict("该笔缴费已有退款，不能作废。", code="payment_has_refunds")
        now = clock.now()
        if not order_cas(
            row,
            from_statuses={Status.PAID},
            to=Status.VOIDED,
            voided_at=now,
            voided_by=supervisor,
            void_reason=reason,
        ):
            # Unreachable while we hold the row lock; kept as the compare-and-set's guard.
            raise Conflict("该笔缴费刚刚被他人处理，请刷新。", code="payment_not_voidable")
        item = row.items.select_related("house").order_by("id").first()
        if item is None:
            raise RuntimeError(f"counter order {row.out_trade_no} has no items")
        house = item.house
        ledger_reverse_payment(
            house=house,
            payment_source=row.provider,
            payment_source_id=ledger_source_id(row, index=0, houses=1),
            amount_fen=row.paid_fen or row.amount_fen,
            source=VOID_SOURCE,
            source_id=row.out_trade_no,
            reason=f"柜台缴费作废（收据 {row.receipt_no}）：{reason}",
            by=supervisor,
        )
        audit_record(
            actor=supervisor,
            action="payments.counter_payment_void",
            obj=row,
            before={"status": Status.PAID},
            after={
                "status": Status.VOIDED,
                "receipt_no": row.receipt_no,
                "amount_fen": row.paid_fen,
                "collector": row.collector.username if row.collector else "",
            },
            reason=reason,
        )
    return row
