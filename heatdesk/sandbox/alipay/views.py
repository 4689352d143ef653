"""The simulated Alipay gateway (gateway.do), mounted at /sandbox/alipay/ in sandbox mode.

Accepts a GET query (python-alipay-sdk) or a POST form with the common parameters in the query
(Alipay's official SDKs), merges both, and verifies RSA2 over the sorted non-empty parameters
minus `sign` with the app's public key: failures get `40002 isv.invalid-signature`. Answers are
`{"<method>_response": {...}, "sign": "..."}` signed over the node's exact text, "/" escaped.
"""

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from heatdesk.core import clock
from heatdesk.payments.providers import alipay_protocol as proto
from heatdesk.payments.providers.amounts import fen_to_yuan_str
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.sandbox.alipay import bill, services
from heatdesk.sandbox.payment_config import AlipaySim, alipay_sim
from heatdesk.sandbox.payment_knobs import knob
from heatdesk.sandbox.payment_models import (
    Provider,
    SandboxBillFile,
    SandboxPaymentOrder,
    SandboxPaymentRefund,
)
from heatdesk.sandbox.payment_services import SimError

TIMESTAMP_TOLERANCE = dt.timedelta(minutes=10)
BILL_URL_TTL = dt.timedelta(seconds=30)
GATEWAY_MESSAGES = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}
Handler = Callable[[HttpRequest, str, dict[str, Any], dict[str, str]], dict[str, Any]]


def _answer(sim: AlipaySim, node_name: str, node: dict[str, Any]) -> HttpResponse:
    body = proto.build_response(node_name, node, sim.gateway_key)
    return HttpResponse(body.encode("utf-8"), content_type="text/html;charset=utf-8")


def _error_node(exc: SimError) -> dict[str, Any]:
    code = str(exc.status)
    return {
        "code": code,
        "msg": GATEWAY_MESSAGES.get(code, "Business Failed"),
        "sub_code": exc.code,
        "sub_msg": exc.message,
    }


def _params(request: HttpRequest) -> dict[str, str]:
    merged: dict[str, str] = {}
    for source in (request.GET, request.POST):
        for key, values in source.lists():
            if len(values) != 1 or key in merged:
                raise SimError(40002, "isv.invalid-parameter", f"参数 {key} 重复")
            merged[key] = values[0]
    return merged


def _check(sim: AlipaySim, params: dict[str, str]) -> dict[str, Any]:
    if params.get("app_id") != sim.app_id:
        raise SimError(40002, "isv.invalid-app-id", "无效的AppID参数")
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise SimError(40002, "isv.invalid-charset", "字符集错误")
    if params.get("version") != "1.0":
        raise SimError(40002, "isv.invalid-parameter", "version 须为 1.0")
    try:
        proto.verify_request(params, sim.app_public_key)
    except VerificationError:
        raise SimError(
            40002,
            "isv.invalid-signature",
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
        ) from None
    try:
        sent = proto.parse_timestamp(params.get("timestamp", ""))
    except VerificationError:
        raise SimError(40002, "isv.invalid-timestamp", "非法的时间戳参数") from None
    if abs(clock.now() - sent) > TIMESTAMP_TOLERANCE:
        raise SimError(40002, "isv.invalid-timestamp", "时间戳与网关时间相差过大")
    try:
        biz = json.loads(params.get("biz_content") or "{}", parse_float=Decimal)
    except ValueError:
        raise SimError(40002, "isv.invalid-parameter", "biz_content 不是合法的 JSON") from None
    if not isinstance(biz, dict):
        raise SimError(40002, "isv.invalid-parameter", "biz_content 须为 JSON 对象")
    return biz


def _cashier_url(request: HttpRequest) -> Callable[[str], str]:
    return lambda public_id: request.build_absolute_uri(
        reverse("sandbox:cashier", args=[public_id])
    )


def _trade_node(order: SandboxPaymentOrder) -> dict[str, Any]:
    node: dict[str, Any] = {
        "code": "10000",
        "msg": "Success",
        "buyer_logon_id": "buy***@example.com",
        "buyer_pay_amount": "0.00",
        "out_trade_no": order.out_trade_no,
        "point_amount": "0.00",
        "receipt_amount": "0.00",
        "total_amount": fen_to_yuan_str(order.total_fen),
        "trade_no": order.transaction_id,
        "trade_status": services.trade_status(order),
    }
    if order.paid_at is not None:
        paid = fen_to_yuan_str(order.total_fen)
        node.update(
            buyer_pay_amount=paid,
            receipt_amount=paid,
            buyer_user_id=services.BUYER_ID,
            send_pay_date=proto.timestamp(order.paid_at),
        )
    return node


def precreate(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    order = services.trade_create(
        app_id=app_id,
        kind="precreate",
        biz=biz,
        notify_url=p.get("notify_url", ""),
        cashier_url=_cashier_url(request),
    )
    stall = float(knob("timeout_after_create", 0, out_trade_no=order.out_trade_no))
    if stall > 0:
        time.sleep(stall)
    if knob("fail_after_create", False, out_trade_no=order.out_trade_no):
        raise SimError(20000, "isp.unknow-error", "系统繁忙")
    return {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": order.out_trade_no,
        "qr_code": order.code_url,
    }


def query(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    order = services.trade_get(app_id=app_id, biz=biz)
    if knob("fail_query", False, out_trade_no=order.out_trade_no):
        raise SimError(20000, "isp.unknow-error", "系统繁忙")
    return _trade_node(order)


def close(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    order = services.trade_close(app_id=app_id, biz=biz)
    return {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": order.out_trade_no,
        "trade_no": order.transaction_id,
    }


def refund(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    created, moved = services.refund_create(app_id=app_id, biz=biz)
    order = created.order
    return {
        "code": "10000",
        "msg": "Success",
        "buyer_logon_id": "buy***@example.com",
        "buyer_user_id": services.BUYER_ID,
        "fund_change": "Y" if moved else "N",
        "gmt_refund_pay": proto.timestamp(created.success_at or clock.now()),
        "out_trade_no": order.out_trade_no,
        "refund_fee": fen_to_yuan_str(services.refunded_fen(order)),
        "send_back_fee": fen_to_yuan_str(created.amount_fen if moved else 0),
        "trade_no": order.transaction_id,
    }


def refund_query(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    order = services.trade_get(app_id=app_id, biz=biz)
    out_request_no = str(biz.get("out_request_no") or order.out_trade_no)
    node: dict[str, Any] = {"code": "10000", "msg": "Success"}
    found = order.refunds.filter(out_refund_no=out_request_no).first()
    if found is not None and found.status == SandboxPaymentRefund.Status.SUCCESS:
        node.update(
            out_request_no=out_request_no,
            out_trade_no=order.out_trade_no,
            trade_no=order.transaction_id,
            refund_amount=fen_to_yuan_str(found.amount_fen),
            total_amount=fen_to_yuan_str(order.total_fen),
            refund_status="REFUND_SUCCESS",
            gmt_refund_pay=proto.timestamp(found.success_at or clock.now()),
        )
    return node


def bill_url(request: HttpRequest, app_id: str, biz: dict[str, Any], p: dict[str, str]) -> Any:
    if biz.get("bill_type") not in ("trade", "signcustomer"):
        raise SimError(40002, "isv.invalid-parameter", "bill_type 无效")
    try:
        bill_date = dt.date.fromisoformat(str(biz.get("bill_date", "")))
    except ValueError:
        raise SimError(40002, "isv.invalid-parameter", "bill_date 格式应为 yyyy-MM-dd") from None
    today = clock.local_today()
    if bill_date > today or (bill_date == today and not knob("bill_same_day", False)):
        raise services.business_error("isp.bill_not_exist", "账单不存在")
    content = bill.bill_zip(app_id=app_id, bill_date=bill_date, inject=dict(knob("bill", {}) or {}))
    if not content:
        raise services.business_error("isp.bill_not_exist", "账单不存在")
    token = secrets.token_urlsafe(24)
    SandboxBillFile.objects.create(provider=Provider.ALIPAY, token=token, content=content)
    url = request.build_absolute_uri(reverse("sandbox:alipay-bill-file"))
    return {"code": "10000", "msg": "Success", "bill_download_url": f"{url}?fileId={token}"}


METHODS: dict[str, Handler] = {
    "alipay.trade.precreate": precreate,
    "alipay.trade.query": query,
    "alipay.trade.close": close,
    "alipay.trade.refund": refund,
    "alipay.trade.fastpay.refund.query": refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": bill_url,
}


def _wap_pay(request: HttpRequest, sim: AlipaySim, params: dict[str, str]) -> HttpResponse:
    """The payer's browser arrives with a signed order: show the cashier, or the error page."""
    try:
        biz = _check(sim, params)
        order = services.trade_create(
            app_id=sim.app_id,
            kind="wap",
            biz=biz,
            notify_url=params.get("notify_url", ""),
            cashier_url=_cashier_url(request),
        )
    except SimError as exc:
        return HttpResponse(
            f"<h1>支付宝（沙箱）：请求有误</h1><p>{exc.code}：{exc.message}</p>".encode(),
            status=400,
            content_type="text/html;charset=utf-8",
        )
    return HttpResponseRedirect(reverse("sandbox:cashier", args=[order.public_id]))


@csrf_exempt
def gateway(request: HttpRequest) -> HttpResponse:
    sim = alipay_sim()
    try:
        params = _params(request)
    except SimError as exc:
        return _answer(sim, proto.ERROR_NODE, _error_node(exc))
    method = params.get("method", "")
    if method == "alipay.trade.wap.pay":
        return _wap_pay(request, sim, params)
    handler = METHODS.get(method)
    node_name = proto.response_node_name(method) if handler else proto.ERROR_NODE
    try:
        if handler is None:
            raise SimError(40002, "isv.invalid-method", "不存在的方法名")
        biz = _check(sim, params)
        node = handler(request, sim.app_id, biz, params)
    except SimError as exc:
        if exc.status == 40002:
            node_name = proto.ERROR_NODE  # gateway-level refusals come as error_response
        return _answer(sim, node_name, _error_node(exc))
    return _answer(sim, node_name, node)


def bill_file(request: HttpRequest) -> HttpResponse:
    """The bill ZIP behind a download URL that lives 30 seconds."""
    found = SandboxBillFile.objects.filter(
        provider=Provider.ALIPAY, token=request.GET.get("fileId", "")
    ).first()
    if found is None or clock.now() - found.created_at > BILL_URL_TTL:
        return HttpResponse("链接已失效", status=404, content_type="text/plain;charset=utf-8")
    return HttpResponse(bytes(found.content), content_type="application/zip")
