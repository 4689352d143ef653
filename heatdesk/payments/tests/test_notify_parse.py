"""Verifying notifies: only a genuine, fresh notify for our merchant becomes a VerifiedNotify."""

import datetime as dt
import json
import time

import pytest

from heatdesk.core import clock
from heatdesk.payments.notify import alipay_parse_notify, wechatpay_parse_notify
from heatdesk.payments.providers import alipay_protocol, wechatpay_protocol
from heatdesk.payments.providers.config import alipay_config, wechatpay_config
from heatdesk.payments.providers.errors import NotifyRejected

pytestmark = pytest.mark.usefixtures("payment_settings")


def transaction(**overrides):
    data = {
        "appid": "wx-sandbox-appid",
        "mchid": "1900000001",
        "out_trade_no": "HT202611240001",
        "transaction_id": "4200001234202611241234567890",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": "2026-11-24T20:00:00+08:00",
        "payer": {"openid": "o1"},
        "amount": {"total": 223750, "payer_total": 223750, "currency": "CNY"},
    }
    data.update(overrides)
    return data


def wechat_notify(
    payment_keys,
    resource,
    *,
    event_type="TRANSACTION.SUCCESS",
    key=None,
    api_v3_key=None,
    serial=None,
    timestamp=None,
    aad="transaction",
):
    body = json.dumps(
        {
            "id": "EV-018-1",
            "create_time": "2026-11-24T20:00:01+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": aad,
                **wechatpay_protocol.encrypt_resource(
                    api_v3_key=api_v3_key or payment_keys.wechatpay_api_v3_key,
                    plaintext=json.dumps(resource).encode(),
                    associated_data=aad,
                ),
            },
        }
    ).encode()
    headers = wechatpay_protocol.sign_response(
        body=body,
        private_key=key or payment_keys.wechatpay_platform_key,
        serial=serial or payment_keys.wechatpay_platform_public_key_id,
        timestamp=timestamp,
    )
    return headers, body


def test_a_genuine_payment_notify_is_verified_and_decrypted(payment_keys):
    headers, body = wechat_notify(payment_keys, transaction())
    notify = wechatpay_parse_notify(headers, body)
    assert (notify.provider, notify.kind, notify.event_id, notify.status, notify.paid) == (
        "wechatpay",
        "payment",
        "EV-018-1",
        "SUCCESS",
        True,
    )
    assert (notify.out_trade_no, notify.amount_fen) == ("HT202611240001", 223750)
    assert notify.transaction_id == "4200001234202611241234567890"


def test_a_refund_notify_carries_its_refund_number_and_amount(payment_keys):
    resource = {
        "mchid": "1900000001",
        "out_trade_no": "HT1",
        "transaction_id": "42",
        "refund_id": "50",
        "out_refund_no": "RF1",
        "refund_status": "SUCCESS",
        "amount": {"total": 300, "refund": 100, "payer_total": 300, "payer_refund": 100},
    }
    headers, body = wechat_notify(payment_keys, resource, event_type="REFUND.SUCCESS", aad="refund")
    notify = wechatpay_parse_notify(headers, body)
    assert (notify.kind, notify.out_refund_no, notify.refund_fen, notify.status) == (
        "refund",
        "RF1",
        100,
        "SUCCESS",
    )


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "forged",
        "stale",
        "wrong serial",
        "wrong api key",
        "other merchant",
        "other app",
        "probe",
        "unknown event",
        "float amount",
    ],
)
def test_bad_wechat_notifies_are_rejected(payment_keys, stranger_key, case):
    kwargs = {}
    resource = transaction()
    if case == "forged":
        kwargs["key"] = stranger_key
    elif case == "stale":
        kwargs["timestamp"] = str(int(time.time()) - 6 * 60)
    elif case == "wrong serial":
        kwargs["serial"] = "PUB_KEY_ID_0100000000000000000000000000000000"
    elif case == "wrong api key":
        kwargs["api_v3_key"] = "Z" * 32
    elif case == "other merchant":
        resource = transaction(mchid="1900000002")
    elif case == "other app":
        resource = transaction(appid="wx-another-app")
    elif case == "unknown event":
        kwargs["event_type"] = "TRANSACTION.FAILED"
    elif case == "float amount":
        resource = transaction(amount={"total": 2237.5})
    headers, body = wechat_notify(payment_keys, resource, **kwargs)
    if case == "tampered":
        body = body.replace(b"EV-018-1", b"EV-018-2")
    if case == "probe":
        headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(NotifyRejected) as caught:
        wechatpay_parse_notify(headers, body)
    assert caught.value.status == 400
    assert caught.value.code == "payment_notify_rejected"


def test_a_wechat_notify_in_certificate_mode_verifies_with_the_certificate(payment_keys, settings):
    from cryptography.hazmat.primitives import serialization

    cert = payment_keys.wechatpay_platform_cert
    settings.WECHATPAY_PLATFORM_CERTIFICATES = cert.public_bytes(
        serialization.Encoding.PEM
    ).decode()
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY = ""
    settings.SANDBOX = True
    headers, body = wechat_notify(payment_keys, transaction(), serial=f"{cert.serial_number:X}")
    assert wechatpay_parse_notify(headers, body).paid
    # the public-key id is not accepted when only the certificate is configured
    config = wechatpay_config()
    assert config.platform.public_key_id == ""
    headers, body = wechat_notify(payment_keys, transaction())
    with pytest.raises(NotifyRejected, match="Serial"):
        wechatpay_parse_notify(headers, body, config=config)


def alipay_form(payment_keys, *, key=None, **overrides):
    params = {
        "notify_time": alipay_protocol.timestamp(clock.now()),
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": "2021000000000001",
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026112422001400000000000001",
        "out_trade_no": "HT202611240001",
        "buyer_id": "2088102177846880",
        "seller_id": "2088000000000001",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "2237.50",
        "subject": "采暖费",
        "body": "",
    }
    params.update(overrides)
    params["sign_type"] = "RSA2"
    params["sign"] = alipay_protocol.sign_notify(params, key or payment_keys.alipay_gateway_key)
    return params


def test_a_genuine_alipay_notify_is_verified(payment_keys):
    notify = alipay_parse_notify(alipay_form(payment_keys))
    assert (notify.provider, notify.kind, notify.paid, notify.amount_fen) == (
        "alipay",
        "payment",
        True,
        223750,
    )
    assert notify.event_id == "ac05099524730693a8b330c5ecf72da9786"
    refund = alipay_parse_notify(
        alipay_form(
            payment_keys, refund_fee="100.00", out_biz_no="RF1", trade_status="TRADE_CLOSED"
        )
    )
    assert (refund.kind, refund.refund_fen, refund.out_refund_no, refund.paid) == (
        "refund",
        10000,
        "RF1",
        False,
    )


def test_a_querydict_with_a_repeated_key_is_rejected(payment_keys):
    from urllib.parse import urlencode

    from django.http import QueryDict

    form = QueryDict(urlencode(alipay_form(payment_keys)) + "&total_amount=0.01")
    with pytest.raises(NotifyRejected, match="repeats"):
        alipay_parse_notify(form)
    assert alipay_parse_notify(QueryDict(urlencode(alipay_form(payment_keys)))).paid


@pytest.mark.parametrize(
    "case", ["tampered", "forged", "other app", "other seller", "old", "bad amount", "unsigned"]
)
def test_bad_alipay_notifies_are_rejected(payment_keys, stranger_key, case):
    if case == "forged":
        form = alipay_form(payment_keys, key=stranger_key)
    elif case == "other app":
        form = alipay_form(payment_keys, app_id="2021000000000002")
    elif case == "other seller":
        form = alipay_form(payment_keys, seller_id="2088999999999999")
    elif case == "old":
        old = clock.now() - dt.timedelta(days=3)
        form = alipay_form(payment_keys, notify_time=alipay_protocol.timestamp(old))
    elif case == "bad amount":
        form = alipay_form(payment_keys, total_amount="2237.5")
    else:
        form = alipay_form(payment_keys)
    if case == "tampered":
        form["total_amount"] = "0.01"
    if case == "unsigned":
        del form["sign"]
    with pytest.raises(NotifyRejected):
        alipay_parse_notify(form, config=alipay_config())
