"""The counter (柜台收费) for staff: find a house, open and close a shift, take a payment, print
its receipt, void one, pay out an approved refund from the open shift. Taking payments, shifts
and payouts need `payments.take_counter_payment`; voids need `payments.void_counter_payment` (a
supervisor, never the payment's collector). Without the permission (or without a staff account)
the answer is `forbidden` (403).

Errors every endpoint can answer: `unauthenticated` (401), `forbidden` (403),
`validation_error` (422).
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Header, Query, Router, Schema, Status

from heatdesk.accounts.auth import request_user
from heatdesk.accounts.models import User
from heatdesk.billing.api_staff import ERRORS, staff_with
from heatdesk.billing.models import Bill
from heatdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from heatdesk.core.masking import mask_name, mask_phone
from heatdesk.payments import counter_selectors as selectors
from heatdesk.payments.api_staff_refunds import RefundOut, refund_out
from heatdesk.payments.models import CounterShift, PaymentOrder, Provider, Refund
from heatdesk.payments.receipts import receipt_pdf, receipt_verify_url
from heatdesk.payments.services.counter import counter_payment_record, counter_payment_void
from heatdesk.payments.services.counter_shifts import shift_close, shift_open
from heatdesk.payments.services.refunds_counter import refund_cash_payout

router = Router(tags=["counter-staff"])
TAKE = "payments.take_counter_payment"
SUPERVISE = "payments.void_counter_payment"


# --- Schemas ------------------------------------------------------------------------------------


class BillDueOut(Schema):
    bill_id: str
    season: str
    status: str
    status_display: str
    total_fen: int
    paid_fen: int
    due_fen: int = Field(..., description="今日缴清应付（含滞纳金、优惠）")
    late_fee_fen: int


class HouseOut(Schema):
    house_id: str
    account_no: str
    address: str
    owner_name_masked: str
    owner_phone_masked: str
    due_fen: int
    bills: list[BillDueOut]


class SearchIn(Schema):
    q: str = Field(..., min_length=1, max_length=100, description="户号、地址或户主手机号")


class ShiftOpenIn(Schema):
    opening_float_fen: int = Field(0, ge=0, description="备用金（分）")


class ShiftCloseIn(Schema):
    counted: dict[str, int] = Field(..., description="各收费方式实点金额（分）：cash/pos/transfer")
    note: str = Field("", max_length=300)


class ShiftOut(Schema):
    shift_id: str
    collector: str
    status: str
    opening_float_fen: int
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    expected: dict[str, int]
    counted: dict[str, int]
    difference_fen: int
    note: str
    payments: int
    voided: int


class PaymentIn(Schema):
    house_id: str = Field(..., max_length=24)
    bill_ids: list[str] = Field(default_factory=list, max_length=20)
    channel: str = Field(..., description="cash / pos / transfer")
    amount_fen: int | None = Field(None, description="不填则为所选账单（或全部欠费）今日应付")
    reference: str = Field("", max_length=64, description="POS 参考号或银行流水号")


class PaymentOut(Schema):
    payment_id: str
    out_trade_no: str
    receipt_no: str
    status: str
    status_display: str
    channel: str
    amount_fen: int
    house_id: str
    account_no: str
    collector: str
    shift_id: str
    reference: str
    paid_at: dt.datetime | None
    voided_at: dt.datetime | None
    void_reason: str
    receipt_url: str
    verify_url: str


class VoidIn(Schema):
    reason: str = Field(..., max_length=200)


# --- Shaping ------------------------------------------------------------------------------------


def _house_out(house: Any) -> dict[str, Any]:
    dues = selectors.bills_due_now(house=house)
    return {
        "house_id": house.public_id,
        "account_no": house.account_no,
        "address": house.address,
        "owner_name_masked": mask_name(house.owner_name),
        "owner_phone_masked": mask_phone(house.owner_phone),
        "due_fen": sum(d.due_fen for d in dues),
        "bills": [
            {
                "bill_id": d.bill.public_id,
                "season": d.bill.season.code,
                "status": d.bill.status,
                "status_display": d.bill.get_status_display(),
                "total_fen": d.bill.total_fen,
                "paid_fen": d.bill.paid_fen,
                "due_fen": d.due_fen,
                "late_fee_fen": d.late_fee_fen,
            }
            for d in dues
        ],
    }


def _shift_out(shift: CounterShift) -> dict[str, Any]:
    summary = selectors.shift_summary(shift=shift)
    return {
        "shift_id": shift.public_id,
        "collector": shift.collector.username,
        "status": shift.status,
        "opening_float_fen": shift.opening_float_fen,
        "opened_at": shift.opened_at,
        "closed_at": shift.closed_at,
        "expected": summary.expected,
        "counted": {k: int(v) for k, v in (shift.counted or {}).items()},
        "difference_fen": shift.difference_fen,
        "note": shift.note,
        "payments": summary.payments,
        "voided": summary.voided,
    }


def _payment_out(order: PaymentOrder) -> dict[str, Any]:
    item = order.items.select_related("house").order_by("id").first()
    return {
        "payment_id": order.public_id,
        "out_trade_no": order.out_trade_no,
        "receipt_no": order.receipt_no,
        "status": order.status,
        "status_display": order.get_status_display(),
        "channel": order.channel,
        "amount_fen": order.paid_fen if order.paid_fen is not None else order.amount_fen,
        "house_id": item.house.public_id if item else "",
        "account_no": item.house.account_no if item else "",
        "collector": order.collector.username if order.collector else "",
        "shift_id": order.shift.public_id if order.shift else "",
        "reference": order.counter_reference,
        "paid_at": order.paid_at,
        "voided_at": order.voided_at,
        "void_reason": order.void_reason,
        "receipt_url": f"/api/v1/payments/counter/payments/{order.public_id}/receipt.pdf",
        "verify_url": receipt_verify_url(order.receipt_no),
    }


def _counter_order(payment_id: str) -> PaymentOrder:
    order = (
        PaymentOrder.objects.select_related("collector", "shift")
        .filter(public_id=payment_id, provider=Provider.COUNTER)
        .first()
    )
    if order is None:
        raise NotFound("未找到该笔柜台缴费。", code="payment_not_found")
    return order


def _staff_any(request: HttpRequest, *perms: str) -> User:
    """The calling staff member, if they hold at least one of `perms`."""
    user = request_user(request)
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("需要工作人员账号。", code="forbidden")
    if not any(user.has_perm(p) for p in perms):
        raise PermissionDenied("没有执行此操作的权限。", code="forbidden")
    return user


def _own_open_shift(user: User) -> CounterShift:
    shift = selectors.shift_open_of(collector=user)
    if shift is None:
        raise NotFound("您当前没有未结班的班次。", code="no_open_shift")
    return shift


# --- Houses -------------------------------------------------------------------------------------


@router.get(
    "/payments/counter/houses",
    response={200: list[HouseOut], **ERRORS},
    summary="Find a house at the counter",
)
def houses(request: HttpRequest, query: Query[SearchIn]) -> list[dict[str, Any]]:
    """By 户号 (exact or prefix), address text, or the owner's whole phone number; with what
    each open bill owes today. Owner name and phone are masked. Permission: take payments."""
    staff_with(request, TAKE)
    return [_house_out(h) for h in selectors.houses_for_counter(query=query.q)]


# --- Shifts -------------------------------------------------------------------------------------


@router.post(
    "/payments/counter/shifts", response={201: ShiftOut, **ERRORS}, summary="Open my shift"
)
def shift_start(request: HttpRequest, payload: ShiftOpenIn) -> Status[Any]:
    """Errors: `shift_already_open` (409)."""
    user = staff_with(request, TAKE)
    shift = shift_open(collector=user, opening_float_fen=payload.opening_float_fen)
    return Status(
        201, _shift_out(CounterShift.objects.select_related("collector").get(pk=shift.pk))
    )


@router.get(
    "/payments/counter/shifts/current",
    response={200: ShiftOut, **ERRORS},
    summary="My open shift with its totals so far",
)
def shift_current(request: HttpRequest) -> dict[str, Any]:
    """Errors: `no_open_shift` (404)."""
    user = staff_with(request, TAKE)
    return _shift_out(_own_open_shift(user))


@router.post(
    "/payments/counter/shifts/{shift_id}/close",
    response={200: ShiftOut, **ERRORS},
    summary="Close a shift against the counted drawer",
)
def shift_end(request: HttpRequest, shift_id: str, payload: ShiftCloseIn) -> dict[str, Any]:
    """The collector's own shift, or any shift for a supervisor. A difference needs a note and
    raises an alert. Errors: `shift_not_found` (404), `shift_closed` (409)."""
    user = _staff_any(request, TAKE, SUPERVISE)
    shift = CounterShift.objects.select_related("collector").filter(public_id=shift_id).first()
    if shift is None or (shift.collector_id != user.pk and not user.has_perm(SUPERVISE)):
        raise NotFound("未找到该班次。", code="shift_not_found")
    closed = shift_close(shift=shift, counted=payload.counted, note=payload.note, by=user)
    return _shift_out(closed)


# --- Payments -----------------------------------------------------------------------------------


@router.post(
    "/payments/counter/payments",
    response={201: PaymentOut, **ERRORS},
    summary="Record a counter payment",
)
def payment_record(
    request: HttpRequest,
    payload: PaymentIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Status[Any]:
    """Cash, POS or transfer in the collector's open shift. The amount defaults to what the
    chosen bills (or the whole house) owe today; another amount is a partial payment or a
    prepayment. Send an `Idempotency-Key`: a repeat returns the first payment. Errors:
    `house_not_found`, `bill_not_found` (404), `no_open_shift`, `bill_not_payable`,
    `nothing_to_pay`, `idempotency_key_reused` (409), `idempotency_key_required` (400)."""
    user = staff_with(request, TAKE)
    house = selectors.house_for_counter(house_id=payload.house_id)
    if house is None:
        raise NotFound("未找到该房屋。", code="house_not_found")
    bills = list(Bill.objects.filter(public_id__in=payload.bill_ids, house=house))
    if len(bills) != len(set(payload.bill_ids)):
        raise NotFound("未找到该房屋的所选账单。", code="bill_not_found")
    if len(payload.bill_ids) != len(set(payload.bill_ids)):
        raise ValidationFailed("账单重复。", fields={"bill_ids": ["同一账单只能选一次。"]})
    order = counter_payment_record(
        collector=user,
        house=house,
        bills=bills or None,
        channel=payload.channel,
        amount_fen=payload.amount_fen,
        reference=payload.reference,
        idempotency_key=idempotency_key or "",
    )
    return Status(201, _payment_out(_counter_order(order.public_id)))


@router.get(
    "/payments/counter/payments/{payment_id}",
    response={200: PaymentOut, **ERRORS},
    summary="A counter payment",
)
def payment_detail(request: HttpRequest, payment_id: str) -> dict[str, Any]:
    """Permission: `payments.view_paymentorder`. Errors: `payment_not_found` (404)."""
    staff_with(request, "payments.view_paymentorder")
    return _payment_out(_counter_order(payment_id))


@router.get(
    "/payments/counter/payments/{payment_id}/receipt.pdf",
    response={200: None, **ERRORS},
    summary="The receipt PDF (reprint)",
)
def payment_receipt(request: HttpRequest, payment_id: str) -> HttpResponse:
    """A PDF with a QR code of the public verification link; a voided payment's receipt says
    已作废. Permission: `payments.view_paymentorder`. Errors: `payment_not_found` (404)."""
    staff_with(request, "payments.view_paymentorder")
    order = _counter_order(payment_id)
    response = HttpResponse(receipt_pdf(order=order), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{order.receipt_no}.pdf"'
    return response


@router.post(
    "/payments/counter/payments/{payment_id}/void",
    response={200: PaymentOut, **ERRORS},
    summary="Void a counter payment (supervisor)",
)
def payment_void(request: HttpRequest, payment_id: str, payload: VoidIn) -> dict[str, Any]:
    """Only while the payment's shift is open, by a supervisor who is not its collector, with a
    reason; after the close a refund is the way. Errors: `payment_not_found` (404),
    `void_by_collector` (403), `shift_closed`, `payment_not_voidable`, `payment_has_refunds`
    (409)."""
    user = staff_with(request, SUPERVISE)
    order = counter_payment_void(
        order=_counter_order(payment_id), supervisor=user, reason=payload.reason
    )
    return _payment_out(_counter_order(order.public_id))


# --- Refunds paid out at the counter --------------------------------------------------------------


@router.get(
    "/payments/counter/refunds",
    response={200: list[RefundOut], **ERRORS},
    summary="Counter refunds awaiting payout (待柜台付款)",
)
def refunds_awaiting(request: HttpRequest) -> list[dict[str, Any]]:
    """Approved refunds of counter payments no collector has paid out yet, oldest approval
    first (at most 200). Permission: `payments.take_counter_payment`."""
    staff_with(request, TAKE)
    rows = selectors.refunds_awaiting_payout().select_related(
        "requested_by", "decided_by", "paid_out_shift"
    )
    return [refund_out(r) for r in rows[:200]]


@router.post(
    "/payments/counter/refunds/{public_id}/payout",
    response={200: RefundOut, **ERRORS},
    summary="Pay out an approved counter refund from my open shift",
)
def refund_payout(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """The money goes back through the order's channel (cash from the drawer, a POS refund on
    the terminal, a transfer back) and lowers that channel's expected amount in this shift.
    Permission: `payments.take_counter_payment`. Errors: `refund_not_found` (404),
    `no_open_shift`, `refund_not_approved`, `refund_already_paid_out`, `refund_not_payable`,
    `refund_not_counter` (409)."""
    user = staff_with(request, TAKE)
    refund = Refund.objects.select_related("order").filter(public_id=public_id).first()
    if refund is None:
        raise NotFound("未找到该退款单。", code="refund_not_found")
    paid = refund_cash_payout(refund=refund, collector=user)
    return refund_out(
        Refund.objects.select_related("order", "requested_by", "decided_by", "paid_out_shift").get(
            pk=paid.pk
        )
    )
