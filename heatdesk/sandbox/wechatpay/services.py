"""The simulated WeChat Pay's records: orders, refunds, and the notifies they cause."""

import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from heatdesk.core import clock
from heatdesk.core.ids import new_public_id, new_short_code
from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.sandbox.courier import SIGNTEST, notify_enqueue
from heatdesk.sandbox.models import SandboxWechatCode
from heatdesk.sandbox.payment_config import WechatpaySim, wechatpay_sim
from heatdesk.sandbox.payment_knobs import knob
from heatdesk.sandbox.payment_models import (
    Provider,
    SandboxPaymentOrder,
    SandboxPaymentRefund,
)
from heatdesk.sandbox.payment_services import SimError

PREPAY_TTL = dt.timedelta(hours=2)
REFUND_WINDOW = dt.timedelta(days=365)
MAX_REFUNDS = 50
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
TRADE_STATE_DESC = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "未支付",
    "CLOSED": "已关闭",
}


def _param_error(message: str) -> SimError:
    return SimError(400, "PARAM_ERROR", message)


def _new_prepay_id() -> str:
    return "wx" + clock.now().strftime("%d%H%M%S") + uuid.uuid4().hex[:24]


def _validate_order(sim: WechatpaySim, kind: str, params: dict[str, Any], mchid: str) -> None:
    for name in ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount"):
        if name not in params:
            raise _param_error(f"输入源“/body/{name}”映射到字段“{name}”必填性规则校验失败")
    if params["mchid"] != mchid:
        raise _param_error("请求头中的商户号与请求体中的商户号不一致")
    if params["appid"] != sim.appid or mchid != sim.mchid:
        raise _param_error("appid和mch_id不匹配")
    if not OUT_TRADE_NO.fullmatch(str(params["out_trade_no"])):
        raise _param_error("out_trade_no 格式不正确")
    description = params["description"]
    if not isinstance(description, str) or not 1 <= len(description) <= 127:
        raise _param_error("description 长度不正确")
    notify = urlsplit(str(params["notify_url"]))
    if notify.scheme not in {"http", "https"} or not notify.netloc or notify.query:
        raise _param_error("notify_url 格式不正确（须为 http(s) 地址且不带参数）")
    amount = params["amount"]
    total = amount.get("total") if isinstance(amount, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise _param_error("amount.total 须为不小于 1 的整数（分）")
    if amount.get("currency", "CNY") != "CNY":
        raise _param_error("currency 仅支持 CNY")
    if "time_expire" in params:
        try:
            parsed = dt.datetime.fromisoformat(str(params["time_expire"]))
        except ValueError:
            raise _param_error("time_expire 须为 RFC 3339 格式") from None
        if parsed.tzinfo is None:
            raise _param_error("time_expire 须带时区")
    if len(str(params.get("attach", ""))) > 128:
        raise _param_error("attach 过长")
    if kind == SandboxPaymentOrder.Kind.JSAPI:
        payer = params.get("payer")
        openid = payer.get("openid") if isinstance(payer, dict) else None
        if not openid:
            raise _param_error("输入源“/body/payer/openid”映射到字段“openid”必填性规则校验失败")
        issued = SandboxWechatCode.objects.filter(appid=sim.appid, openid=openid).exists()
        if not issued:
            raise _param_error("appid与openid不匹配")


def order_create(*, kind: str, params: dict[str, Any], mchid: str) -> SandboxPaymentOrder:
    """Create, or re-enter with identical parameters, a JSAPI or Native order."""
    sim = wechatpay_sim()
    _validate_order(sim, kind, params, mchid)
    out_trade_no = str(params["out_trade_no"])
    now = clock.now()
    with transaction.atomic():
        existing = (
            SandboxPaymentOrder.objects.select_for_update()
            .filter(provider=Provider.WECHATPAY, merchant_id=mchid, out_trade_no=out_trade_no)
            .first()
        )
        if existing is not None:
            if existing.state == SandboxPaymentOrder.State.PAID:
                raise SimError(400, "ORDERPAID", "该订单已支付")
            if existing.state == SandboxPaymentOrder.State.CLOSED:
                raise SimError(400, "ORDER_CLOSED", "该订单已关闭")
            if existing.request_params != params or existing.kind != kind:
                raise SimError(400, "INVALID_REQUEST", "请求重入时，参数与首次请求时不一致")
            if kind == SandboxPaymentOrder.Kind.JSAPI and (
                existing.prepay_expires_at is None or existing.prepay_expires_at <= now
            ):
                existing.prepay_id = _new_prepay_id()
                existing.prepay_expires_at = now + PREPAY_TTL
                existing.save(update_fields=["prepay_id", "prepay_expires_at"])
            return existing
        public_id = new_public_id("sp")
        payer = params.get("payer") if isinstance(params.get("payer"), dict) else {}
        try:
            with transaction.atomic():
                return SandboxPaymentOrder.objects.create(
                    public_id=public_id,
                    provider=Provider.WECHATPAY,
                    merchant_id=mchid,
                    appid=str(params["appid"]),
                    out_trade_no=out_trade_no,
                    kind=kind,
                    request_params=params,
                    prepay_id=_new_prepay_id() if kind == SandboxPaymentOrder.Kind.JSAPI else "",
                    prepay_expires_at=now + PREPAY_TTL,
                    code_url=f"weixin://wxpay/bizpayurl?pr={public_id[3:]}",
                    description=str(params["description"]),
                    attach=str(params.get("attach", "")),
                    total_fen=params["amount"]["total"],
                    payer_id=str((payer or {}).get("openid", "")),
                    notify_url=str(params["notify_url"]),
                    time_expire=str(params.get("time_expire", "")),
                )
        except IntegrityError:
            raise SimError(500, "SYSTEM_ERROR", "系统繁忙，请使用相同参数重试") from None


def order_get(
    *, mchid: str, out_trade_no: str = "", transaction_id: str = ""
) -> SandboxPaymentOrder:
    orders = SandboxPaymentOrder.objects.filter(provider=Provider.WECHATPAY, merchant_id=mchid)
    found = (
        orders.filter(out_trade_no=out_trade_no).first()
        if out_trade_no
        else orders.filter(transaction_id=transaction_id).exclude(transaction_id="").first()
    )
    if found is None:
        raise SimError(404, "ORDER_NOT_EXIST", "订单不存在")
    return found


def trade_state(order: SandboxPaymentOrder) -> str:
    if order.state == SandboxPaymentOrder.State.PAID:
        return "REFUND" if order.refunds.exists() else "SUCCESS"
    return "CLOSED" if order.state == SandboxPaymentOrder.State.CLOSED else "NOTPAY"


def transaction_json(order: SandboxPaymentOrder) -> dict[str, Any]:
    state = trade_state(order)
    data: dict[str, Any] = {
        "appid": order.appid,
        "mchid": order.merchant_id,
        "out_trade_no": order.out_trade_no,
        "trade_state": state,
        "trade_state_desc": TRADE_STATE_DESC[state],
        "amount": {"total": order.total_fen, "currency": "CNY", "payer_currency": "CNY"},
    }
    if order.attach:
        data["attach"] = order.attach
    if order.paid_at is not None:
        data.update(
            {
                "transaction_id": order.transaction_id,
                "trade_type": "NATIVE"
                if order.kind == SandboxPaymentOrder.Kind.NATIVE
                else "JSAPI",
                "bank_type": "OTHERS",
                "success_time": proto.format_time(order.paid_at),
                "payer": {"openid": order.payer_id or "o-sandbox-native-payer"},
            }
        )
        data["amount"]["payer_total"] = order.total_fen
    return data


def order_close(*, mchid: str, out_trade_no: str) -> None:
    with transaction.atomic():
        order = order_get(mchid=mchid, out_trade_no=out_trade_no)
        order = SandboxPaymentOrder.objects.select_for_update().get(id=order.id)
        if order.state == SandboxPaymentOrder.State.PAID:
            raise SimError(400, "ORDER_PAID", "订单已支付")
        if order.state == SandboxPaymentOrder.State.PENDING:
            order.state = SandboxPaymentOrder.State.CLOSED
            order.closed_at = clock.now()
            order.save(update_fields=["state", "closed_at"])


def _notify(
    order: SandboxPaymentOrder,
    *,
    refund: SandboxPaymentRefund | None,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    url: str,
) -> None:
    sim = wechatpay_sim()
    event_id = f"EV-{uuid.uuid4()}"
    envelope: dict[str, Any] = {
        "id": event_id,
        "create_time": proto.format_time(clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            **proto.encrypt_resource(
                api_v3_key=sim.api_v3_key,
                plaintext=json.dumps(resource, ensure_ascii=False).encode("utf-8"),
                associated_data=original_type,
            ),
        },
    }
    body = json.dumps(envelope, ensure_ascii=False)
    if knob("notify_signtest", False, out_trade_no=order.out_trade_no):
        notify_enqueue(
            provider=Provider.WECHATPAY,
            order=order,
            refund=refund,
            event_id=event_id,
            event_type=SIGNTEST,
            url=url,
            body=body,
        )
    notify_enqueue(
        provider=Provider.WECHATPAY,
        order=order,
        refund=refund,
        event_id=event_id,
        event_type=event_type,
        url=url,
        body=body,
    )


def payment_notify(order: SandboxPaymentOrder) -> None:
    _notify(
        order,
        refund=None,
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=transaction_json(order),
        url=order.notify_url,
    )


# --- refunds ---------------------------------------------------------------------------------


def refund_json(refund: SandboxPaymentRefund) -> dict[str, Any]:
    order = refund.order
    data: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": proto.format_time(refund.created_at),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": order.total_fen,
            "refund": refund.amount_fen,
            "payer_total": order.total_fen,
            "payer_refund": refund.amount_fen,
            "settlement_refund": refund.amount_fen,
            "settlement_total": order.total_fen,
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0,
        },
    }
    if refund.success_at is not None:
        data["success_time"] = proto.format_time(refund.success_at)
    return data


def refund_create(*, mchid: str, params: dict[str, Any]) -> SandboxPaymentRefund:
    out_refund_no = str(params.get("out_refund_no") or "")
    amount = params.get("amount")
    if not out_refund_no or not isinstance(amount, dict):
        raise _param_error("out_refund_no 与 amount 必填")
    refund_fen, total_fen = amount.get("refund"), amount.get("total")
    if not isinstance(refund_fen, int) or not isinstance(total_fen, int) or refund_fen < 1:
        raise _param_error("amount.refund / amount.total 须为正整数（分）")
    with transaction.atomic():
        order = order_get(
            mchid=mchid,
            out_trade_no=str(params.get("out_trade_no") or ""),
            transaction_id=str(params.get("transaction_id") or ""),
        )
        order = SandboxPaymentOrder.objects.select_for_update().get(id=order.id)
        existing = SandboxPaymentRefund.objects.filter(
            provider=Provider.WECHATPAY, merchant_id=mchid, out_refund_no=out_refund_no
        ).first()
        if existing is not None:
            if existing.request_params != params:
                raise SimError(400, "INVALID_REQUEST", "请求重入时，参数与首次请求时不一致")
            return existing
        if order.state != SandboxPaymentOrder.State.PAID:
            raise SimError(400, "INVALID_REQUEST", "订单未支付，不能退款")
        if total_fen != order.total_fen:
            raise _param_error("订单金额与原订单不一致")
        refunds = list(order.refunds.exclude(status=SandboxPaymentRefund.Status.CLOSED))
        if len(refunds) >= MAX_REFUNDS:
            raise SimError(400, "INVALID_REQUEST", "部分退款次数超过限制（50 次）")
        if order.paid_at and clock.now() - order.paid_at > REFUND_WINDOW:
            raise SimError(400, "INVALID_REQUEST", "订单已超过退款期限（1 年）")
        if sum(r.amount_fen for r in refunds) + refund_fen > order.total_fen:
            raise SimError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        refund = SandboxPaymentRefund.objects.create(
            order=order,
            provider=Provider.WECHATPAY,
            merchant_id=mchid,
            out_refund_no=out_refund_no,
            refund_id="50" + "".join(str(int(c, 36) % 10) for c in new_short_code(27)),
            amount_fen=refund_fen,
            request_params=params,
            reason=str(params.get("reason", ""))[:80],
            notify_url=str(params.get("notify_url") or order.notify_url),
        )
        if not knob("refund_processing", False, out_trade_no=order.out_trade_no) and not knob(
            "refund_processing", False, out_refund_no=out_refund_no
        ):
            refund_id = refund.id
            transaction.on_commit(lambda: refund_settle(refund_id=refund_id, status="SUCCESS"))
    return refund


def refund_settle(*, refund_id: int, status: str) -> SandboxPaymentRefund:
    """PROCESSING → SUCCESS / ABNORMAL / CLOSED, with the REFUND.* notify (once)."""
    if status not in {"SUCCESS", "ABNORMAL", "CLOSED"}:
        raise SimError(400, "INVALID_STATUS", "status must be SUCCESS, ABNORMAL or CLOSED")
    with transaction.atomic():
        refund = (
            SandboxPaymentRefund.objects.select_for_update()
            .select_related("order")
            .get(id=refund_id)
        )
        if refund.status != SandboxPaymentRefund.Status.PROCESSING:
            return refund
        refund.status = status
        if status == "SUCCESS":
            refund.success_at = clock.now()
        refund.save(update_fields=["status", "success_at"])
        resource = {
            "mchid": refund.merchant_id,
            "transaction_id": refund.order.transaction_id,
            "out_trade_no": refund.order.out_trade_no,
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "refund_status": status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": refund.order.total_fen,
                "refund": refund.amount_fen,
                "payer_total": refund.order.total_fen,
                "payer_refund": refund.amount_fen,
            },
        }
        if refund.success_at is not None:
            resource["success_time"] = proto.format_time(refund.success_at)
        _notify(
            refund.order,
            refund=refund,
            event_type=f"REFUND.{status}",
            summary={"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[status],
            original_type="refund",
            resource=resource,
            url=refund.notify_url,
        )
    return refund
