"""Resident payments: open an order for bills and get the channel's pay parameters, poll it
(which asks the provider when the answer is slow: the "confirm" after wx.requestPayment), close
it, list payment records.

A resident reaches an order only through the houses bound to them; another house's order or
bill answers 404. Errors every endpoint can answer: `unauthenticated` (401),
`phone_verification_required`, `privacy_consent_required` (403).
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Header, Query, Router, Schema, Status

from heatdesk.accounts.auth import resident_ready
from heatdesk.accounts.models import User, WechatIdentity
from heatdesk.core.api import ErrorOut
from heatdesk.core.errors import ApplicationError, ValidationFailed
from heatdesk.estates.selectors import house_get_for_resident
from heatdesk.payments import selectors
from heatdesk.payments.models import Channel, PaymentOrder
from heatdesk.payments.schemas import OrderCreateIn, OrderOut, RecordsOut
from heatdesk.payments.services.orders import order_close, order_create, order_prepare
from heatdesk.payments.services.sync import order_confirm_if_due

router = Router(tags=["payments"])

# Poll: ask the provider once the order is this old, and at most once per this interval.
MAX_PAGE_SIZE = 50
# Far past any resident's history; a larger offset only makes the database count rows.
MAX_PAGE = 10_000
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def _idempotency_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > 255:
        raise ApplicationError(
            "请求头须带 Idempotency-Key（1–255 个字符），重复提交时保持不变。",
            code="idempotency_key_required",
        )
    return key


def order_out(order: PaymentOrder, *, pay: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": order.public_id,
        "out_trade_no": order.out_trade_no,
        "channel": order.channel,
        "channel_label": order.get_channel_display(),
        "status": order.status,
        "status_label": order.get_status_display(),
        "amount_fen": order.amount_fen,
        "paid_fen": order.paid_fen,
        "excess_fen": order.excess_fen,
        "description": order.description,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "items": [
            {
                "house_id": item.house.public_id,
                "account_no": item.house.account_no,
                "bill_id": item.bill.public_id if item.bill else None,
                "season": item.bill.season.code if item.bill else None,
                "amount_fen": item.amount_fen,
                "late_fee_fen": item.late_fee_fen,
            }
            for item in order.items.all()
        ],
        "pay": pay,
    }


def _openid(user: User, given: str) -> str:
    if given:
        return given
    identity = (
        WechatIdentity.objects.filter(user=user, appid=settings.WECHATPAY_APPID)
        .order_by("-last_login_at", "-id")
        .first()
    )
    return identity.openid if identity else ""


@router.post(
    "/payments/orders",
    response={200: OrderOut, 201: OrderOut, **ERRORS},
    summary="Pay bills: open an order and get the pay parameters",
)
def create(
    request: HttpRequest,
    payload: OrderCreateIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Status[Any]:
    """Opens a payment order for `bill_ids` (or the whole outstanding amount of `house_id`)
    for the amount due today, late fee and discount included, and returns it with the pay
    parameters of `channel` (201). Repeating the request with the same `Idempotency-Key`
    returns the same order (200); a double tap with another key while the first order is open
    also returns it. Errors: `idempotency_key_required` (400), `payment_provider_refused`
    (400), `bill_not_found`, `house_not_found` (404), `bill_not_payable`, `nothing_to_pay`,
    `idempotency_key_reused`, `payment_order_not_open`, `payment_order_expired` (409),
    `validation_error` (422)."""
    user = resident_ready(request)
    key = _idempotency_key(idempotency_key)
    if payload.bill_ids and payload.house_id:
        raise ValidationFailed(
            "请选择要缴的账单，或选择一户缴清全部欠费（二选一）。",
            fields={"bill_ids": ["账单与房屋须二选一。"]},
        )
    bills = (
        selectors.bills_get_for_resident(resident=user, public_ids=payload.bill_ids)
        if payload.bill_ids
        else None
    )
    house = (
        house_get_for_resident(resident=user, house_id=payload.house_id)
        if payload.house_id
        else None
    )
    openid = _openid(user, payload.openid) if payload.channel == Channel.WECHAT_JSAPI else ""
    replay = PaymentOrder.objects.filter(payer=user, idempotency_key=key).exists()
    order = order_create(
        payer=user,
        channel=payload.channel,
        bills=bills,
        house=house,
        idempotency_key=key,
        openid=openid,
    )
    pay = order_prepare(order) if order.status in PaymentOrder.OPEN else None
    fresh = selectors.order_get_for_resident(resident=user, public_id=order.public_id)
    created = not replay and fresh.idempotency_key == key
    return Status(201 if created else 200, order_out(fresh, pay=pay))


@router.get(
    "/payments/orders/{order_id}",
    response={200: OrderOut, **ERRORS},
    summary="Poll an order (confirms with the provider)",
)
def detail(request: HttpRequest, order_id: str) -> dict[str, Any]:
    """The order as it stands. While it is open and a few seconds old, this asks the provider
    (rate-limited per order): call it when wx.requestPayment or the Alipay page returns, and
    trust the `status` it answers, never the front end's success. Errors:
    `payment_order_not_found` (404)."""
    user = resident_ready(request)
    order = selectors.order_get_for_resident(resident=user, public_id=order_id)
    if order_confirm_if_due(order):
        order = selectors.order_get_for_resident(resident=user, public_id=order_id)
    return order_out(order)


@router.post(
    "/payments/orders/{order_id}/close",
    response={200: OrderOut, **ERRORS},
    summary="Close an unpaid order",
)
def close(request: HttpRequest, order_id: str) -> dict[str, Any]:
    """Closes the order at the provider, then asks it again: an order paid meanwhile answers
    `paid`, never `closed`. Closing a closed or paid order changes nothing. Errors:
    `payment_order_not_found` (404)."""
    user = resident_ready(request)
    order = selectors.order_get_for_resident(resident=user, public_id=order_id)
    order_close(order)
    return order_out(selectors.order_get_for_resident(resident=user, public_id=order_id))


class RecordsQuery(Schema):
    page: int = 1
    page_size: int = 20


@router.get("/payments/records", response={200: RecordsOut, **ERRORS}, summary="My payment records")
def records(request: HttpRequest, query: Query[RecordsQuery]) -> dict[str, Any]:
    """Payments of the caller's bound houses (whoever paid), newest first, with amount,
    channel, status and the bills paid; `page` from 1, `page_size` up to 50. Errors:
    `validation_error` (422)."""
    user = resident_ready(request)
    wrong = {}
    if not 1 <= query.page <= MAX_PAGE:
        wrong["page"] = [f"page 为 1–{MAX_PAGE}。"]
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        wrong["page_size"] = [f"page_size 为 1–{MAX_PAGE_SIZE}。"]
    if wrong:
        raise ValidationFailed("分页参数有误。", fields=wrong)
    orders = selectors.orders_for_resident(resident=user)
    start = (query.page - 1) * query.page_size
    page = list(orders[start : start + query.page_size])
    return {
        "count": orders.count(),
        "page": query.page,
        "page_size": query.page_size,
        "results": [order_out(order) for order in page],
    }
