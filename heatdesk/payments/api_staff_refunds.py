"""Refunds for staff: list and filter, request (`payments.request_refund`), approve or reject
(`payments.approve_refund`, never the requester), and sync with the provider. Without the
permission (or without a staff account) the answer is `forbidden` (403).

Errors every endpoint can answer: `unauthenticated` (401), `forbidden` (403),
`validation_error` (422).
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from heatdesk.billing.api_staff import ERRORS, staff_with
from heatdesk.core.errors import NotFound
from heatdesk.payments.models import PaymentOrder, Refund
from heatdesk.payments.services import refunds

router = Router(tags=["refunds-staff"])
MAX_PAGE = 200


class RefundOut(Schema):
    public_id: str
    out_refund_no: str
    out_trade_no: str
    provider: str
    amount_fen: int
    reason: str
    status: str
    status_display: str = Field(..., description="待柜台付款 for an approved counter refund")
    automatic: bool
    requested_by: str | None
    requested_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str
    provider_refund_id: str
    succeeded_at: dt.datetime | None
    failure: str
    needs_attention: bool
    paid_out_shift: str | None = Field(None, description="柜台退款的付款班次")


class RefundIn(Schema):
    out_trade_no: str = Field(..., max_length=32)
    amount_fen: int = Field(..., description="退款金额（分）")
    reason: str = Field(..., max_length=200)


class RejectIn(Schema):
    note: str = Field(..., max_length=200)


class RefundFilter(Schema):
    status: str | None = None
    out_trade_no: str | None = None
    needs_attention: bool | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE)


def refund_out(refund: Refund) -> dict[str, Any]:
    return {
        "public_id": refund.public_id,
        "out_refund_no": refund.out_refund_no,
        "out_trade_no": refund.order.out_trade_no,
        "provider": refund.order.provider,
        "amount_fen": refund.amount_fen,
        "reason": refund.reason,
        "status": refund.status,
        "status_display": refund.status_label(),
        "automatic": refund.automatic,
        "requested_by": refund.requested_by.username if refund.requested_by else None,
        "requested_at": refund.requested_at,
        "decided_by": refund.decided_by.username if refund.decided_by else None,
        "decided_at": refund.decided_at,
        "decision_note": refund.decision_note,
        "provider_refund_id": refund.provider_refund_id,
        "succeeded_at": refund.succeeded_at,
        "failure": refund.failure,
        "needs_attention": refund.needs_attention,
        "paid_out_shift": refund.paid_out_shift.public_id if refund.paid_out_shift else None,
    }


def _refund(public_id: str) -> Refund:
    refund = (
        Refund.objects.select_related("order", "requested_by", "decided_by", "paid_out_shift")
        .filter(public_id=public_id)
        .first()
    )
    if refund is None:
        raise NotFound("未找到该退款单。", code="refund_not_found")
    return refund


def _fresh_out(refund: Refund) -> dict[str, Any]:
    return refund_out(_refund(refund.public_id))


@router.get("/payments/refunds", response={200: list[RefundOut], **ERRORS}, summary="Refunds")
def refund_list(request: HttpRequest, filters: Query[RefundFilter]) -> list[dict[str, Any]]:
    """Newest first, filtered by status, order number or needing attention. Permission:
    `payments.view_refund`."""
    staff_with(request, "payments.view_refund")
    rows = Refund.objects.select_related("order", "requested_by", "decided_by", "paid_out_shift")
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.out_trade_no:
        rows = rows.filter(order__out_trade_no=filters.out_trade_no)
    if filters.needs_attention is not None:
        rows = rows.filter(needs_attention=filters.needs_attention)
    return [refund_out(r) for r in rows.order_by("-requested_at", "-id")[: filters.limit]]


@router.get(
    "/payments/refunds/{public_id}", response={200: RefundOut, **ERRORS}, summary="One refund"
)
def refund_detail(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """Permission: `payments.view_refund`. Errors: `refund_not_found` (404)."""
    staff_with(request, "payments.view_refund")
    return refund_out(_refund(public_id))


@router.post("/payments/refunds", response={201: RefundOut, **ERRORS}, summary="Request a refund")
def refund_request(request: HttpRequest, payload: RefundIn) -> Status[Any]:
    """Ask for part or all of a paid order back; finance approves. Permission:
    `payments.request_refund`. Errors: `payment_order_not_found` (404), `refund_order_not_paid`,
    `refund_exceeds_paid`, `refund_limit_reached` (WeChat: 50 per order),
    `refund_window_passed` (WeChat: one year) (409), `validation_error` (422)."""
    user = staff_with(request, "payments.request_refund")
    order = PaymentOrder.objects.filter(out_trade_no=payload.out_trade_no).first()
    if order is None:
        raise NotFound("未找到该支付订单。", code="payment_order_not_found")
    refund = refunds.refund_request(
        order=order, amount_fen=payload.amount_fen, reason=payload.reason, by=user
    )
    return Status(201, _fresh_out(refund))


@router.post(
    "/payments/refunds/{public_id}/approve",
    response={200: RefundOut, **ERRORS},
    summary="Approve a refund",
)
def refund_approve(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """Sends the refund to the provider (a counter refund is paid in cash at once). The answer
    shows where it stands: `processing`, `succeeded`, or `unknown` after a timeout (sync later).
    Permission: `payments.approve_refund`. Errors: `refund_not_found` (404),
    `refund_same_person` (409: the requester cannot approve), `refund_not_pending` (409)."""
    user = staff_with(request, "payments.approve_refund")
    return _fresh_out(refunds.refund_approve(refund=_refund(public_id), by=user))


@router.post(
    "/payments/refunds/{public_id}/reject",
    response={200: RefundOut, **ERRORS},
    summary="Reject a refund",
)
def refund_reject(request: HttpRequest, public_id: str, payload: RejectIn) -> dict[str, Any]:
    """Permission: `payments.approve_refund`. Errors: `refund_not_found` (404),
    `refund_not_pending` (409), `validation_error` (422: a note is required)."""
    user = staff_with(request, "payments.approve_refund")
    refund = refunds.refund_reject(refund=_refund(public_id), by=user, note=payload.note)
    return _fresh_out(refund)


@router.post(
    "/payments/refunds/{public_id}/sync",
    response={200: RefundOut, **ERRORS},
    summary="Sync a refund with the provider",
)
def refund_sync(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """Queries the provider (an `unknown` refund is replayed with the same number and amount);
    an unknown answer keeps the state. Permission: `payments.approve_refund`. Errors:
    `refund_not_found` (404)."""
    staff_with(request, "payments.approve_refund")
    return _fresh_out(refunds.refund_sync(_refund(public_id)))
