"""The simulated Alipay's records: trades, refunds, and the notifies they cause."""

import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import IntegrityError, transaction

from heatdesk.core import clock
from heatdesk.core.ids import new_public_id
from heatdesk.payments.providers import alipay_protocol as proto
from heatdesk.payments.providers.amounts import fen_to_yuan_str, yuan_str_to_fen
from heatdesk.sandbox.courier import notify_enqueue
from heatdesk.sandbox.payment_config import alipay_sim
from heatdesk.sandbox.payment_knobs import knob
from heatdesk.sandbox.payment_models import Provider, SandboxPaymentOrder, SandboxPaymentRefund
from heatdesk.sandbox.payment_services import SimError, new_transaction_id

MAX_AMOUNT_FEN = 100_000_000 * 100
BUYER_ID = "2088102177846880"


def business_error(sub_code: str, sub_msg: str) -> SimError:
    return SimError(40004, sub_code, sub_msg)


def amount_fen(biz: dict[str, Any], name: str) -> int:
    """Yuan with at most two decimals, as a string or a JSON number (biz_content is parsed
    with Decimal, so a number is exact)."""
    value = biz.get(name)
    text = str(value) if isinstance(value, str | int | Decimal) and value is not True else ""
    whole, _, cents = text.partition(".")
    try:
        fen = yuan_str_to_fen(f"{whole}.{cents.ljust(2, '0')}") if len(cents) <= 2 else -1
    except ValueError:
        fen = -1
    if fen < 0:
        raise SimError(40002, "isv.invalid-parameter", f"参数 {name} 不正确")
    if not 1 <= fen <= MAX_AMOUNT_FEN:
        raise SimError(40002, "isv.invalid-parameter", f"参数 {name} 超出范围")
    return fen


def trade_create(
    *, app_id: str, kind: str, biz: dict[str, Any], notify_url: str, cashier_url: Any
) -> SandboxPaymentOrder:
    """precreate / wap.pay: a trade for out_trade_no; a repeat with the same amount is the same
    trade, a different amount is refused, a paid one says so."""
    out_trade_no = str(biz.get("out_trade_no") or "")
    subject = str(biz.get("subject") or "")
    if not 1 <= len(out_trade_no) <= 64 or not subject:
        raise SimError(40002, "isv.missing-parameter", "缺少必选参数 out_trade_no 或 subject")
    total = amount_fen(biz, "total_amount")
    with transaction.atomic():
        existing = (
            SandboxPaymentOrder.objects.select_for_update()
            .filter(provider=Provider.ALIPAY, merchant_id=app_id, out_trade_no=out_trade_no)
            .first()
        )
        if existing is not None:
            if existing.state == SandboxPaymentOrder.State.PAID:
                raise business_error("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.state == SandboxPaymentOrder.State.CLOSED:
                raise business_error("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if existing.total_fen != total:
                raise business_error("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            return existing
        public_id = new_public_id("sp")
        try:
            with transaction.atomic():
                return SandboxPaymentOrder.objects.create(
                    public_id=public_id,
                    provider=Provider.ALIPAY,
                    merchant_id=app_id,
                    out_trade_no=out_trade_no,
                    kind=kind,
                    request_params=biz,
                    code_url=cashier_url(public_id),
                    description=subject[:256],
                    total_fen=total,
                    notify_url=notify_url,
                    # A precreated trade exists for queries only once its QR code is scanned.
                    visible=kind != SandboxPaymentOrder.Kind.PRECREATE,
                    time_expire=str(biz.get("time_expire", "")),
                )
        except IntegrityError:
            raise SimError(20000, "isp.unknow-error", "系统繁忙") from None


def trade_get(*, app_id: str, biz: dict[str, Any]) -> SandboxPaymentOrder:
    orders = SandboxPaymentOrder.objects.filter(provider=Provider.ALIPAY, merchant_id=app_id)
    if biz.get("out_trade_no"):
        found = orders.filter(out_trade_no=str(biz["out_trade_no"])).first()
    elif biz.get("trade_no"):
        found = (
            orders.filter(transaction_id=str(biz["trade_no"])).exclude(transaction_id="").first()
        )
    else:
        raise SimError(40002, "isv.missing-parameter", "缺少 out_trade_no 或 trade_no")
    if found is None or not found.visible:
        raise business_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
    return found


def refunded_fen(order: SandboxPaymentOrder) -> int:
    return sum(
        r.amount_fen
        for r in order.refunds.all()
        if r.status in (SandboxPaymentRefund.Status.SUCCESS, SandboxPaymentRefund.Status.PROCESSING)
    )


def trade_status(order: SandboxPaymentOrder) -> str:
    if order.state == SandboxPaymentOrder.State.PAID:
        return "TRADE_CLOSED" if refunded_fen(order) >= order.total_fen else "TRADE_SUCCESS"
    if order.state == SandboxPaymentOrder.State.CLOSED:
        return "TRADE_CLOSED"
    return "WAIT_BUYER_PAY"


def _local(moment: Any) -> str:
    return proto.timestamp(moment)


def trade_close(*, app_id: str, biz: dict[str, Any]) -> SandboxPaymentOrder:
    with transaction.atomic():
        order = trade_get(app_id=app_id, biz=biz)
        order = SandboxPaymentOrder.objects.select_for_update().get(id=order.id)
        if order.state == SandboxPaymentOrder.State.PAID:
            raise business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if order.state == SandboxPaymentOrder.State.PENDING:
            order.state = SandboxPaymentOrder.State.CLOSED
            order.closed_at = clock.now()
            if not order.transaction_id:
                order.transaction_id = new_transaction_id(Provider.ALIPAY)
            order.save(update_fields=["state", "closed_at", "transaction_id"])
    return order


def _notify(order: SandboxPaymentOrder, refund: SandboxPaymentRefund | None) -> None:
    sim = alipay_sim()
    params = {
        "notify_time": _local(clock.now()),
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "app_id": order.merchant_id,
        "auth_app_id": order.merchant_id,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "buyer_id": BUYER_ID,
        "seller_id": sim.seller_id,
        "trade_status": trade_status(order),
        "total_amount": fen_to_yuan_str(order.total_fen),
        "receipt_amount": fen_to_yuan_str(order.total_fen),
        "invoice_amount": fen_to_yuan_str(order.total_fen),
        "buyer_pay_amount": fen_to_yuan_str(order.total_fen),
        "point_amount": "0.00",
        "subject": order.description,
        "gmt_create": _local(order.created_at),
        "gmt_payment": _local(order.paid_at or clock.now()),
        "fund_bill_list": json.dumps(
            [{"amount": fen_to_yuan_str(order.total_fen), "fundChannel": "ALIPAYACCOUNT"}],
            separators=(",", ":"),
        ),
    }
    if refund is not None:
        params["refund_fee"] = fen_to_yuan_str(refunded_fen(order))
        params["gmt_refund"] = _local(refund.success_at or clock.now()) + ".000"
        params["out_biz_no"] = refund.out_refund_no
        if params["trade_status"] == "TRADE_CLOSED":
            params["gmt_close"] = _local(refund.success_at or clock.now())
    params["sign_type"] = proto.SIGN_TYPE
    params["sign"] = proto.sign_notify(params, sim.gateway_key)
    notify_enqueue(
        provider=Provider.ALIPAY,
        order=order,
        refund=refund,
        event_id=params["notify_id"],
        event_type=params["trade_status"],
        url=order.notify_url,
        body=urlencode(params),
    )


def payment_notify(order: SandboxPaymentOrder) -> None:
    if order.notify_url:
        _notify(order, None)


def refund_create(*, app_id: str, biz: dict[str, Any]) -> tuple[SandboxPaymentRefund, bool]:
    """alipay.trade.refund, synchronous; returns the refund and whether funds moved now."""
    fen = amount_fen(biz, "refund_amount")
    with transaction.atomic():
        order = trade_get(app_id=app_id, biz=biz)
        order = SandboxPaymentOrder.objects.select_for_update().get(id=order.id)
        out_request_no = str(biz.get("out_request_no") or order.out_trade_no)
        existing = order.refunds.filter(out_refund_no=out_request_no).first()
        if existing is not None:
            if existing.amount_fen != fen:
                raise business_error("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致")
            return existing, False
        if order.state != SandboxPaymentOrder.State.PAID:
            raise business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if refunded_fen(order) + fen > order.total_fen:
            raise business_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        processing = knob("refund_processing", False, out_trade_no=order.out_trade_no) or knob(
            "refund_processing", False, out_refund_no=out_request_no
        )
        refund = SandboxPaymentRefund.objects.create(
            order=order,
            provider=Provider.ALIPAY,
            merchant_id=app_id,
            out_refund_no=out_request_no,
            refund_id=f"{order.transaction_id}-{out_request_no}"[:64],
            amount_fen=fen,
            request_params=biz,
            status=(
                SandboxPaymentRefund.Status.PROCESSING
                if processing
                else SandboxPaymentRefund.Status.SUCCESS
            ),
            success_at=None if processing else clock.now(),
            reason=str(biz.get("refund_reason", ""))[:80],
            notify_url=order.notify_url,
        )
        if not processing:
            _notify(order, refund)
    return refund, not processing


def refund_settle(*, refund_id: int) -> SandboxPaymentRefund:
    """Finish a refund the refund_processing knob kept back."""
    with transaction.atomic():
        refund = SandboxPaymentRefund.objects.select_for_update().get(id=refund_id)
        if refund.status == SandboxPaymentRefund.Status.PROCESSING:
            refund.status = SandboxPaymentRefund.Status.SUCCESS
            refund.success_at = clock.now()
            refund.save(update_fields=["status", "success_at"])
            _notify(refund.order, refund)
    return refund
