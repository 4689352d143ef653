"""Notifies as the providers send them, built with the simulators' own keys (or a stranger's,
to forge one), and posted to our endpoints with Django's test client."""

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from heatdesk.core import clock
from heatdesk.payments.providers import alipay_protocol, wechatpay_protocol
from heatdesk.payments.providers.amounts import fen_to_yuan_str
from heatdesk.sandbox.payment_config import alipay_sim, wechatpay_sim

WECHAT_URL = "/payments/notify/wechatpay"
ALIPAY_URL = "/payments/notify/alipay"


def wechat_notify(
    out_trade_no: str,
    *,
    total: int,
    event_id: str = "",
    transaction_id: str = "4200000001202611200000000001",
    mchid: str = "",
    appid: str = "",
    key: Any = None,
    timestamp: str | None = None,
    signtest: bool = False,
    trade_state: str = "SUCCESS",
) -> tuple[dict[str, str], bytes]:
    """Signed headers and body of a TRANSACTION.SUCCESS notify."""
    sim = wechatpay_sim()
    data = {
        "mchid": mchid or sim.mchid,
        "appid": appid or sim.appid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": "JSAPI",
        "trade_state": trade_state,
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": wechatpay_protocol.format_time(clock.now()),
        "payer": {"openid": "o-test"},
        "amount": {"total": total, "payer_total": total, "currency": "CNY"},
    }
    resource = wechatpay_protocol.encrypt_resource(
        api_v3_key=sim.api_v3_key,
        plaintext=json.dumps(data, ensure_ascii=False).encode(),
        associated_data="transaction",
    )
    envelope = {
        "id": event_id or str(uuid.uuid4()),
        "create_time": wechatpay_protocol.format_time(clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": resource,
    }
    body = wechatpay_protocol.encode_json(envelope)
    headers = wechatpay_protocol.sign_response(
        body=body,
        private_key=key or sim.platform_key,
        serial=sim.public_key_id,
        timestamp=timestamp,
    )
    if signtest:
        headers["Wechatpay-Signature"] = (
            wechatpay_protocol.SIGNTEST_PREFIX + headers["Wechatpay-Signature"]
        )
    return headers, body


def post_wechat(headers: dict[str, str], body: bytes) -> Any:
    return Client().post(WECHAT_URL, body, content_type="application/json", headers=headers)


def stale_timestamp() -> str:
    return str(int((clock.now() - dt.timedelta(minutes=10)).timestamp()))


def alipay_notify(
    out_trade_no: str,
    *,
    total: int,
    notify_id: str = "",
    trade_no: str = "2026112022001400000000000001",
    trade_status: str = "TRADE_SUCCESS",
    app_id: str = "",
    seller_id: str = "",
    key: Any = None,
) -> dict[str, str]:
    """The signed form of an Alipay trade notify."""
    sim = alipay_sim()
    now = alipay_protocol.timestamp(clock.now())
    params = {
        "notify_time": now,
        "notify_type": "trade_status_sync",
        "notify_id": notify_id or uuid.uuid4().hex,
        "app_id": app_id or sim.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade_no,
        "out_trade_no": out_trade_no,
        "seller_id": seller_id or sim.seller_id,
        "trade_status": trade_status,
        "total_amount": fen_to_yuan_str(total),
        "receipt_amount": fen_to_yuan_str(total),
        "gmt_create": now,
        "gmt_payment": now,
    }
    params["sign"] = alipay_protocol.sign_notify(params, key or sim.gateway_key)
    return params


def post_alipay(params: dict[str, str]) -> Any:
    return Client().post(
        ALIPAY_URL,
        urlencode(params),
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )


def wechat_refund_notify(
    out_trade_no: str,
    out_refund_no: str,
    *,
    total: int,
    refund: int,
    event_id: str = "",
    refund_status: str = "SUCCESS",
) -> tuple[dict[str, str], bytes]:
    """Signed headers and body of a REFUND.SUCCESS (or other refund status) notify."""
    sim = wechatpay_sim()
    data = {
        "mchid": sim.mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200000001202611200000000001",
        "out_refund_no": out_refund_no,
        "refund_id": "50300000012026112000000000001",
        "refund_status": refund_status,
        "success_time": wechatpay_protocol.format_time(clock.now()),
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
    }
    envelope = {
        "id": event_id or str(uuid.uuid4()),
        "create_time": wechatpay_protocol.format_time(clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": f"REFUND.{refund_status}",
        "summary": "退款成功",
        "resource": {
            "original_type": "refund",
            **wechatpay_protocol.encrypt_resource(
                api_v3_key=sim.api_v3_key,
                plaintext=json.dumps(data, ensure_ascii=False).encode(),
                associated_data="refund",
            ),
        },
    }
    body = wechatpay_protocol.encode_json(envelope)
    headers = wechatpay_protocol.sign_response(
        body=body, private_key=sim.platform_key, serial=sim.public_key_id
    )
    return headers, body
