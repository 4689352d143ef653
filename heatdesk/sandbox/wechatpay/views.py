"""The simulated WeChat Pay API v3 gateway, mounted at /sandbox/wechatpay/ in sandbox mode.

Every call is authenticated as WeChat Pay does it: the Authorization signature is verified over
the raw bytes received (never re-serialised JSON), within five minutes, with the key of the
merchant certificate serial; failures get 401 SIGN_ERROR. Every answer is signed: with the
platform public key (Wechatpay-Serial: PUB_KEY_ID_…) when the request names that key, else with
the platform certificate, as WeChat Pay does for merchants still in certificate mode.
"""

import datetime as dt
import gzip
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from heatdesk.core import clock
from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import rsa_sha256_verify
from heatdesk.sandbox.payment_config import WechatpaySim, wechatpay_sim
from heatdesk.sandbox.payment_knobs import knob
from heatdesk.sandbox.payment_models import (
    Provider,
    SandboxBillFile,
    SandboxPaymentOrder,
    SandboxPaymentRefund,
)
from heatdesk.sandbox.payment_services import SimError, order_pay_outcome
from heatdesk.sandbox.wechatpay import bill, services

PREFIX = "/sandbox/wechatpay"
Handler = Callable[[str, Any], tuple[int, Any]]


def _canonical_url(request: HttpRequest) -> str:
    full = request.get_full_path()
    return full[len(PREFIX) :] if full.startswith(PREFIX) else full


def _respond(
    request: HttpRequest, sim: WechatpaySim, status: int, data: Any, *, sign: bool = True
) -> HttpResponse:
    body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode("utf-8")
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Request-ID"] = uuid.uuid4().hex
    if sign:
        public_key_mode = request.headers.get("Wechatpay-Serial", "") == sim.public_key_id
        headers = proto.sign_response(
            body=body,
            private_key=sim.platform_key,
            serial=sim.public_key_id if public_key_mode else sim.cert_serial,
        )
        for name, value in headers.items():
            response[name] = value
    return response


def _error(request: HttpRequest, sim: WechatpaySim, exc: SimError) -> HttpResponse:
    return _respond(request, sim, exc.status, {"code": exc.code, "message": exc.message})


def _authenticate(request: HttpRequest, sim: WechatpaySim) -> str:
    try:
        auth = proto.verify_request(
            authorization=request.headers.get("Authorization", ""),
            method=request.method or "GET",
            canonical_url=_canonical_url(request),
            body=request.body,
            merchant_keys=sim.merchant_keys,
        )
    except VerificationError as exc:
        raise SimError(401, "SIGN_ERROR", f"签名错误，请检查后再试（{exc}）") from None
    if auth.mchid != sim.mchid:
        raise SimError(401, "SIGN_ERROR", "签名错误，商户号与证书不匹配")
    return auth.mchid


def _endpoint(request: HttpRequest, method: str, handler: Handler) -> HttpResponse:
    sim = wechatpay_sim()
    if request.method != method:
        return _error(request, sim, SimError(405, "METHOD_NOT_ALLOWED", "请求方法不被允许"))
    try:
        mchid = _authenticate(request, sim)
        payload: Any = None
        if method == "POST":
            try:
                payload = json.loads(request.body)
            except ValueError:
                raise SimError(400, "PARAM_ERROR", "请求体不是合法的 JSON") from None
            if not isinstance(payload, dict):
                raise SimError(400, "PARAM_ERROR", "请求体须为 JSON 对象")
        status, data = handler(mchid, payload)
    except SimError as exc:
        return _error(request, sim, exc)
    return _respond(request, sim, status, data)


def _after_create(order: SandboxPaymentOrder) -> None:
    """Knobs that make a committed create look lost to the caller."""
    stall = float(knob("timeout_after_create", 0, out_trade_no=order.out_trade_no))
    if stall > 0:
        time.sleep(stall)
    if knob("fail_after_create", False, out_trade_no=order.out_trade_no):
        raise SimError(500, "SYSTEM_ERROR", "系统错误")


@csrf_exempt
def jsapi(request: HttpRequest) -> HttpResponse:
    def handle(mchid: str, payload: dict[str, Any]) -> tuple[int, Any]:
        order = services.order_create(kind="jsapi", params=payload, mchid=mchid)
        _after_create(order)
        return 200, {"prepay_id": order.prepay_id}

    return _endpoint(request, "POST", handle)


@csrf_exempt
def native(request: HttpRequest) -> HttpResponse:
    def handle(mchid: str, payload: dict[str, Any]) -> tuple[int, Any]:
        order = services.order_create(kind="native", params=payload, mchid=mchid)
        _after_create(order)
        return 200, {"code_url": order.code_url}

    return _endpoint(request, "POST", handle)


def _query_mchid(request: HttpRequest, mchid: str) -> None:
    if request.GET.get("mchid") != mchid:
        raise SimError(400, "PARAM_ERROR", "query 参数 mchid 缺失或与请求头不一致")


def _query_answer(order: SandboxPaymentOrder) -> tuple[int, Any]:
    if knob("fail_query", False, out_trade_no=order.out_trade_no):
        raise SimError(500, "SYSTEM_ERROR", "系统错误")
    return 200, services.transaction_json(order)


@csrf_exempt
def query_by_out_trade_no(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    def handle(mchid: str, _: Any) -> tuple[int, Any]:
        _query_mchid(request, mchid)
        order = services.order_get(mchid=mchid, out_trade_no=out_trade_no)
        return _query_answer(order)

    return _endpoint(request, "GET", handle)


@csrf_exempt
def query_by_transaction_id(request: HttpRequest, transaction_id: str) -> HttpResponse:
    def handle(mchid: str, _: Any) -> tuple[int, Any]:
        _query_mchid(request, mchid)
        order = services.order_get(mchid=mchid, transaction_id=transaction_id)
        return _query_answer(order)

    return _endpoint(request, "GET", handle)


@csrf_exempt
def close(request: HttpRequest, out_trade_no: str) -> HttpResponse:
    def handle(mchid: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if payload.get("mchid") != mchid:
            raise SimError(400, "PARAM_ERROR", "请求体 mchid 缺失或与请求头不一致")
        services.order_close(mchid=mchid, out_trade_no=out_trade_no)
        return 204, None

    return _endpoint(request, "POST", handle)


@csrf_exempt
def refunds(request: HttpRequest) -> HttpResponse:
    def handle(mchid: str, payload: dict[str, Any]) -> tuple[int, Any]:
        refund = services.refund_create(mchid=mchid, params=payload)
        return 200, services.refund_json(refund)

    return _endpoint(request, "POST", handle)


@csrf_exempt
def refund_query(request: HttpRequest, out_refund_no: str) -> HttpResponse:
    def handle(mchid: str, _: Any) -> tuple[int, Any]:
        refund = (
            SandboxPaymentRefund.objects.select_related("order")
            .filter(provider=Provider.WECHATPAY, merchant_id=mchid, out_refund_no=out_refund_no)
            .first()
        )
        if refund is None:
            raise SimError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return 200, services.refund_json(refund)

    return _endpoint(request, "GET", handle)


@csrf_exempt
def tradebill(request: HttpRequest) -> HttpResponse:
    def handle(mchid: str, _: Any) -> tuple[int, Any]:
        try:
            bill_date = dt.date.fromisoformat(request.GET.get("bill_date", ""))
        except ValueError:
            raise SimError(400, "PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD") from None
        bill_type = request.GET.get("bill_type", "ALL")
        if bill_type not in ("ALL", "SUCCESS", "REFUND"):
            raise SimError(400, "PARAM_ERROR", "bill_type 无效")
        today = clock.local_today()
        if bill_date > today or (bill_date == today and not knob("bill_same_day", False)):
            raise SimError(400, "STATEMENT_CREATING", "账单生成中，请稍后再试")
        if bill_date < today - dt.timedelta(days=92):
            raise SimError(400, "NO_STATEMENT_EXIST", "只能下载三个月以内的账单")
        inject = dict(knob("bill", {}) or {})
        content = bill.trade_bill(
            mchid=mchid, bill_date=bill_date, bill_type=bill_type, inject=inject
        )
        if not content:
            raise SimError(400, "NO_STATEMENT_EXIST", "账单不存在")
        digest = hashlib.sha1(content).hexdigest()  # noqa: S324 - WeChat's choice
        if inject.get("bad_hash"):
            digest = hashlib.sha1(content + b"tampered").hexdigest()  # noqa: S324
        token = secrets.token_urlsafe(24)
        compressed = gzip.compress(content) if request.GET.get("tar_type") == "GZIP" else content
        SandboxBillFile.objects.create(provider=Provider.WECHATPAY, token=token, content=compressed)
        base = request.build_absolute_uri(PREFIX)
        return 200, {
            "hash_type": "SHA1",
            "hash_value": digest,
            "download_url": f"{base}/v3/billdownload/file?token={token}",
        }

    return _endpoint(request, "GET", handle)


@csrf_exempt
def billdownload(request: HttpRequest) -> HttpResponse:
    """A signed request with an unsigned answer: the file's integrity is the ticket's hash."""
    sim = wechatpay_sim()
    try:
        _authenticate(request, sim)
    except SimError as exc:
        return _error(request, sim, exc)
    found = SandboxBillFile.objects.filter(
        provider=Provider.WECHATPAY, token=request.GET.get("token", "")
    ).first()
    if found is None:
        return _error(request, sim, SimError(404, "RESOURCE_NOT_EXISTS", "账单文件不存在"))
    return HttpResponse(bytes(found.content), content_type="application/octet-stream")


@csrf_exempt
def certificates(request: HttpRequest) -> HttpResponse:
    """GET /v3/certificates: the platform certificate, AES-GCM-encrypted with the APIv3 key."""

    def handle(mchid: str, _: Any) -> tuple[int, Any]:
        sim = wechatpay_sim()
        cert = sim.platform_cert
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return 200, {
            "data": [
                {
                    "serial_no": sim.cert_serial,
                    "effective_time": proto.format_time(cert.not_valid_before_utc),
                    "expire_time": proto.format_time(cert.not_valid_after_utc),
                    "encrypt_certificate": proto.encrypt_resource(
                        api_v3_key=sim.api_v3_key, plaintext=pem, associated_data="certificate"
                    ),
                }
            ]
        }

    return _endpoint(request, "GET", handle)


@csrf_exempt
def request_payment(request: HttpRequest) -> HttpResponse:
    """Stands in for wx.requestPayment: verifies paySign over the four lines with the merchant
    key, then applies the payer's choice (`outcome`: succeed, fail or cancel)."""
    sim = wechatpay_sim()

    def answer(status: int, message: str) -> HttpResponse:
        return HttpResponse(
            json.dumps({"errMsg": message}, ensure_ascii=False),
            status=status,
            content_type="application/json",
        )

    try:
        params = json.loads(request.body)
        message = proto.pay_sign_message(
            appid=params["appId"],
            timestamp=params["timeStamp"],
            nonce=params["nonceStr"],
            package=params["package"],
        )
    except (ValueError, KeyError, TypeError):
        return answer(400, "requestPayment:fail 参数错误")
    if request.method != "POST" or params.get("signType") != "RSA":
        return answer(400, "requestPayment:fail 参数错误")
    try:
        for key in sim.merchant_keys.values():
            rsa_sha256_verify(key, message, str(params.get("paySign", "")))
    except VerificationError:
        return answer(400, "requestPayment:fail 支付验证签名失败")
    prepay_id = str(params["package"]).removeprefix("prepay_id=")
    order = SandboxPaymentOrder.objects.filter(
        provider=Provider.WECHATPAY, prepay_id=prepay_id, appid=params["appId"]
    ).first()
    if order is None or not prepay_id:
        return answer(400, "requestPayment:fail prepay_id 无效")
    if order.prepay_expires_at is None or order.prepay_expires_at <= clock.now():
        return answer(400, "requestPayment:fail prepay_id 已过期")
    outcome = str(params.get("outcome", "succeed"))
    try:
        order_pay_outcome(order_id=order.id, outcome=outcome)
    except SimError as exc:
        return answer(400, f"requestPayment:fail {exc.message}")
    if outcome == "succeed":
        return answer(200, "requestPayment:ok")
    return answer(
        200, "requestPayment:fail cancel" if outcome == "cancel" else "requestPayment:fail"
    )
