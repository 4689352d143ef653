"""Payment orders: create one for bills (or a house's whole outstanding amount), get the pay
parameters of its channel from the provider, close it.

Rules kept here:
* The amount is computed on the server as of today (late fee and discount as billing computes
  them); the client only says what it pays for.
* `out_trade_no` is minted and committed before any provider call, and the exact body sent
  under it is stored in `provider_request` before sending and replayed byte for byte.
* A timeout or 5xx leaves the order UNKNOWN (never FAILED); only a definitive refusal fails it.
* Idempotency-Key: the same key with the same request returns the first order; with another
  request it is refused (`idempotency_key_reused`).
* Double tap: while the payer has an open, unexpired order for exactly the same request
  (channel, bills or house, openid) with the same amount, a new request returns that order
  instead of opening a second attempt. Requests are serialised per payer by a row lock on the
  payer, so two taps at once get one order. A different channel opens a new attempt; if both
  are paid, settlement credits (or refunds) the second payment.
"""

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.billing.models import Bill
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.billing.selectors.account import account_summary
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from heatdesk.estates.models import House
from heatdesk.estates.selectors import bindings_for_resident
from heatdesk.payments.models import Channel, PaymentOrder, PaymentOrderItem, Provider
from heatdesk.payments.models.orders import CHANNEL_PROVIDER, ONLINE_CHANNELS
from heatdesk.payments.providers import alipay_protocol
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import alipay_client, wechatpay_client
from heatdesk.payments.providers.errors import ProviderOutcomeUnknown, ProviderRefused
from heatdesk.payments.services.common import (
    Status,
    order_cas,
    order_fresh,
    order_not_open,
    order_schedule_check,
    out_trade_no_mint,
)

MAX_BILLS = 20
# A WeChat prepay_id lives two hours; ask again (same body, same answer) well before that.
PREPAY_REUSE = dt.timedelta(minutes=100)
UNKNOWN_RECHECK_SECONDS = 10
ALREADY_PAID_CODES = frozenset({"ORDERPAID", "ORDER_PAID", "ACQ.TRADE_HAS_SUCCESS"})
NOT_EXIST_CODES = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ACQ.TRADE_NOT_EXIST"})
PAID_CODES_ON_CLOSE = frozenset({"ORDERPAID", "ORDER_PAID", "ACQ.TRADE_STATUS_ERROR"})


def _fingerprint(**parts: object) -> str:
    text = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Line:
    house: House
    bill: Bill | None
    amount_fen: int
    late_fee_fen: int


def _check_input(
    *, channel: str, bills: Sequence[Bill] | None, house: House | None, openid: str
) -> None:
    if channel not in ONLINE_CHANNELS:
        raise ValidationFailed(
            "不支持的支付方式。",
            fields={"channel": [f"可选：{', '.join(sorted(ONLINE_CHANNELS))}"]},
        )
    if bool(bills) == (house is not None):
        raise ValidationFailed(
            "请选择要缴的账单，或选择一户缴清全部欠费（二选一）。",
            fields={"bill_ids": ["账单与房屋须二选一。"]},
        )
    if bills and len(bills) > MAX_BILLS:
        raise ValidationFailed(
            f"一次最多缴 {MAX_BILLS} 张账单。", fields={"bill_ids": [f"最多 {MAX_BILLS} 张。"]}
        )
    if bills and len({b.pk for b in bills}) != len(bills):
        raise ValidationFailed("账单重复。", fields={"bill_ids": ["同一账单只能选一次。"]})
    if channel == Channel.WECHAT_JSAPI and not openid:
        raise ValidationFailed(
            "微信小程序支付需要 openid，请先用微信登录。", fields={"openid": ["请先用微信登录。"]}
        )
    if len(openid) > 128:
        raise ValidationFailed("openid 过长。", fields={"openid": ["openid 过长。"]})


def _bound_house_ids(payer: User) -> set[int]:
    return {b.house_id for b in bindings_for_resident(user=payer)}


def _lines(*, payer: User, bills: Sequence[Bill] | None, house: House | None) -> list[_Line]:
    """What the order pays, computed now; refuses foreign houses and unpayable bills."""
    bound = _bound_house_ids(payer)
    today = clock.local_today()
    if house is not None:
        if house.pk not in bound:
            raise NotFound("未找到该房屋。", code="house_not_found")
        owed = account_summary(house=house, as_of=today).due_fen
        if owed <= 0:
            raise Conflict("该房屋当前没有需要缴纳的费用。", code="nothing_to_pay")
        return [_Line(house=house, bill=None, amount_fen=owed, late_fee_fen=0)]
    lines = []
    rows = Bill.objects.select_related("season", "house").filter(pk__in=[b.pk for b in bills or []])
    by_pk = {row.pk: row for row in rows}
    for given in bills or []:
        bill = by_pk.get(given.pk)
        if bill is None or bill.house_id not in bound:
            raise NotFound("未找到该账单。", code="bill_not_found")
        if bill.status not in OPEN:
            raise Conflict(
                f"账单 {bill.public_id} 状态为“{bill.get_status_display()}”，不能缴费。",
                code="bill_not_payable",
            )
        due = bill_due_as_of(bill=bill, as_of=today)
        if due.due_fen <= 0:
            raise Conflict(f"账单 {bill.public_id} 无需缴费。", code="nothing_to_pay")
        late = due.late_fee.amount_fen if due.late_fee is not None else 0
        lines.append(_Line(house=bill.house, bill=bill, amount_fen=due.due_fen, late_fee_fen=late))
    return lines


def _description(lines: list[_Line]) -> str:
    accounts = sorted({line.house.account_no for line in lines})
    text = f"采暖费-{accounts[0]}"
    if len(accounts) > 1:
        text += f"等{len(accounts)}户"
    # No comma: it would break the providers' CSV bill files.
    return text.replace(",", " ")[:127]


def _replay(*, payer: User, key: str, fingerprint: str) -> PaymentOrder | None:
    earlier = PaymentOrder.objects.filter(payer=payer, idempotency_key=key).first()
    if earlier is not None and earlier.request_fingerprint != fingerprint:
        raise Conflict(
            "该 Idempotency-Key 已用于另一个不同的支付请求。", code="idempotency_key_reused"
        )
    return earlier


def order_create(
    *,
    payer: User,
    channel: str,
    bills: Sequence[Bill] | None = None,
    house: House | None = None,
    idempotency_key: str,
    openid: str = "",
) -> PaymentOrder:
    """Open a payment attempt for `bills` (or `house`'s whole outstanding amount) of houses
    bound to `payer`, for the amount due now; committed before any provider call."""
    key = (idempotency_key or "").strip()
    if not key or len(key) > 255:
        raise ApplicationError(
            "请求头须带 Idempotency-Key（1–255 个字符），重复提交时保持不变。",
            code="idempotency_key_required",
        )
    _check_input(channel=channel, bills=bills, house=house, openid=openid)
    fingerprint = _fingerprint(
        channel=channel,
        bills=",".join(str(pk) for pk in sorted(b.pk for b in bills or [])),
        house=house.pk if house is not None else "",
        openid=openid,
    )
    earlier = _replay(payer=payer, key=key, fingerprint=fingerprint)
    if earlier is not None:
        return earlier
    lines = _lines(payer=payer, bills=bills, house=house)
    amount = sum(line.amount_fen for line in lines)
    now = clock.now()
    try:
        with transaction.atomic():
            # One payer's requests one at a time: a double tap sees the first tap's order.
            User.objects.select_for_update().filter(pk=payer.pk).values_list("pk").first()
            open_twin = (
                PaymentOrder.objects.filter(
                    payer=payer,
                    request_fingerprint=fingerprint,
                    status__in=PaymentOrder.OPEN,
                    amount_fen=amount,
                    expires_at__gt=now + dt.timedelta(minutes=1),
                )
                .order_by("-created_at")
                .first()
            )
            if open_twin is not None:
                return open_twin
            order = PaymentOrder.objects.create(
                out_trade_no=out_trade_no_mint(),
                provider=CHANNEL_PROVIDER[channel],
                channel=channel,
                amount_fen=amount,
                description=_description(lines),
                payer=payer,
                payer_openid=openid,
                idempotency_key=key,
                request_fingerprint=fingerprint,
                expires_at=now + dt.timedelta(minutes=settings.PAYMENTS_ORDER_EXPIRE_MINUTES),
            )
            PaymentOrderItem.objects.bulk_create(
                [
                    PaymentOrderItem(
                        order=order,
                        house=line.house,
                        bill=line.bill,
                        amount_fen=line.amount_fen,
                        late_fee_fen=line.late_fee_fen,
                    )
                    for line in lines
                ]
            )
    except IntegrityError:
        # Only the idempotency key gets here: a concurrent twin with the same key won.
        earlier = _replay(payer=payer, key=key, fingerprint=fingerprint)
        if earlier is None:
            raise
        return earlier
    return order


# --- pay parameters ------------------------------------------------------------------------


def _wechat_body(order: PaymentOrder) -> bytes:
    client = wechatpay_client()
    if order.channel == Channel.WECHAT_JSAPI:
        return wx.jsapi_order_body(
            client.config,
            out_trade_no=order.out_trade_no,
            description=order.description,
            amount_fen=order.amount_fen,
            openid=order.payer_openid,
            time_expire=order.expires_at,
        )
    return wx.native_order_body(
        client.config,
        out_trade_no=order.out_trade_no,
        description=order.description,
        amount_fen=order.amount_fen,
        time_expire=order.expires_at,
    )


def _alipay_biz(order: PaymentOrder) -> str:
    """What we ask Alipay for, kept for the record (the client signs it afresh each call)."""
    return alipay_protocol.encode_biz_content(
        {
            "out_trade_no": order.out_trade_no,
            "amount_fen": order.amount_fen,
            "subject": order.description,
            "time_expire": alipay_protocol.timestamp(order.expires_at or clock.now()),
        }
    )


def _request_persist(order: PaymentOrder) -> str:
    """The request body to send: the stored one if any, else a new one stored first."""
    if order.provider_request:
        return order.provider_request
    body = (
        _wechat_body(order).decode("utf-8")
        if order.provider == Provider.WECHATPAY
        else _alipay_biz(order)
    )
    # Stored once: a concurrent prepare that stored first wins, and both send its body.
    PaymentOrder.objects.filter(pk=order.pk, provider_request="").update(provider_request=body)
    order.refresh_from_db(fields=["provider_request"])
    return order.provider_request


def _prepay_call(order: PaymentOrder, body: str) -> dict[str, str]:
    if order.channel == Channel.WECHAT_JSAPI:
        return {"prepay_id": wechatpay_client().create_jsapi_order(body.encode("utf-8"))}
    if order.channel == Channel.WECHAT_NATIVE:
        return {"code_url": wechatpay_client().create_native_order(body.encode("utf-8"))}
    client = alipay_client()
    if order.channel == Channel.ALIPAY_PRECREATE:
        qr = client.precreate(
            out_trade_no=order.out_trade_no,
            subject=order.description,
            amount_fen=order.amount_fen,
            time_expire=order.expires_at,
        )
        return {"qr_code": qr}
    url = client.wap_pay_url(
        out_trade_no=order.out_trade_no,
        subject=order.description,
        amount_fen=order.amount_fen,
        return_url=settings.ALIPAY_RETURN_URL,
        time_expire=order.expires_at,
    )
    return {"pay_url": url}


def pay_params(order: PaymentOrder) -> dict[str, Any]:
    """The parameters the payer's app needs, from the stored prepay answer."""
    prepay = order.prepay or {}
    if order.channel == Channel.WECHAT_JSAPI and prepay.get("prepay_id"):
        return {
            "channel": order.channel,
            "request_payment": wechatpay_client().jsapi_pay_params(prepay["prepay_id"]),
        }
    return {"channel": order.channel, **prepay}


def order_prepare(order: PaymentOrder) -> dict[str, Any] | None:
    """Ask the provider for the order's pay parameters (prepay), or reuse the ones it gave.

    Returns the parameters, or None when the provider's answer is unknown (the order is then
    UNKNOWN; a later call replays the identical request). A refusal fails the order."""
    order = order_fresh(order)
    now = clock.now()
    if order.status not in PaymentOrder.OPEN:
        raise order_not_open(order)
    if order.expires_at is not None and order.expires_at <= now:
        raise Conflict("支付订单已过期，请重新下单。", code="payment_order_expired")
    # A WAP URL is only signed here (no provider call): sign it afresh, with a fresh timestamp.
    reusable = order.channel != Channel.ALIPAY_WAP
    if reusable and order.prepay and order.prepay_at and now - order.prepay_at < PREPAY_REUSE:
        return pay_params(order)
    body = _request_persist(order)
    try:
        prepay = _prepay_call(order, body)
    except ProviderOutcomeUnknown:
        order_cas(order, from_statuses=PaymentOrder.OPEN, to=Status.UNKNOWN)
        order_schedule_check(order, seconds=UNKNOWN_RECHECK_SECONDS)
        return None
    except ProviderRefused as exc:
        if exc.retryable:
            return None
        if exc.code in ALREADY_PAID_CODES:
            from heatdesk.payments.services.sync import order_sync

            order_sync(order)
            raise order_not_open(order_fresh(order)) from exc
        order_cas(
            order,
            from_statuses=PaymentOrder.OPEN,
            to=Status.FAILED,
            failure=f"{exc.code}: {exc.provider_message}"[:200],
        )
        raise ApplicationError(
            "支付平台拒绝了该订单，请稍后重新下单。", code="payment_provider_refused"
        ) from exc
    # PENDING from any open status (a PENDING order being re-prepared included).
    moved = PaymentOrder.objects.filter(pk=order.pk, status__in=PaymentOrder.OPEN).update(
        status=Status.PENDING, prepay=prepay, prepay_at=clock.now(), updated_at=clock.now()
    )
    order.refresh_from_db()
    if not moved:
        # Nothing moved: the order was settled or closed meanwhile.
        raise order_not_open(order)
    return pay_params(order)


# --- close -----------------------------------------------------------------------------------


def order_close(order: PaymentOrder) -> PaymentOrder:
    """Close an unpaid order at the provider (re-entrant), then query again: an order paid
    while we were closing it ends PAID, never CLOSED. An unknown answer changes nothing."""
    from heatdesk.payments.services.sync import order_close_locally, order_sync

    order = order_fresh(order)
    if order.status not in PaymentOrder.OPEN or order.provider == Provider.COUNTER:
        return order
    if not order.provider_request:
        # Never sent to the provider: nothing exists there to close.
        order_close_locally(order, reason="")
        return order_fresh(order)
    try:
        if order.provider == Provider.WECHATPAY:
            wechatpay_client().close_order(order.out_trade_no)
        else:
            alipay_client().close(out_trade_no=order.out_trade_no)
    except ProviderOutcomeUnknown:
        return order
    except ProviderRefused as exc:
        if exc.code in NOT_EXIST_CODES:
            # Alipay: a QR code never scanned, a WAP page never opened: no trade exists.
            order_close_locally(order, reason="")
            return order_fresh(order)
        if exc.code not in PAID_CODES_ON_CLOSE:
            return order
    return order_sync(order)
