"""Alipay RSA2: request signing, the raw-substring rule for answers, notify verification."""

import json

import pytest
from alipay import AliPay
from hypothesis import given, settings
from hypothesis import strategies as st

from heatdesk.payments.providers import alipay_protocol as proto
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import load_private_key, private_key_pem, public_key_pem
from heatdesk.payments.tests.support import DATA

KAT_KEY = load_private_key((DATA / "kat_merchant_key.pem").read_text())
KAT_PARAMS = {
    "app_id": "2021000000000001",
    "method": "alipay.trade.precreate",
    "format": "JSON",
    "charset": "utf-8",
    "sign_type": "RSA2",
    "timestamp": "2026-11-24 20:00:00",
    "version": "1.0",
    "notify_url": "https://heat.example.cn/payments/notify/alipay",
    "return_url": "",
    "biz_content": '{"out_trade_no":"HT202611240001","total_amount":"2237.50","subject":"采暖费"}',
}
# openssl dgst -sha256 -sign kat_merchant_key.pem over the sorted, empty-free k=v string.
KAT_SIGN = (
    "Pj+R/FGTEJl5lfxnFn/7h8xjTa1oX/+y6dsKPXimjAFQ5kk39ZFK0O7eamIffPH/GqvbXcfcm3tCMm7CpdWHBUmdlNOl"
    "8hEAQWzmUePIACjZXd3Gf8m/EHcqe/qQhP6L1dGxZ2dECT7MeT1UwNodvHONQWItSNtaVCk0D9+A/PyYyUgzWVnH4dYM"
    "U+GDdcWZKd4nKzG/8kMhVHwdY8+LHoOSWjsbWpN2nY0WNFX5g3OMDaQKlF3vP6Lrt3k/gq+Ny7PB6KJ1tx1PNEGSjydE"
    "k2mhmeZ2aqD5rpLS3scM6L7eIAuuWFgZA0fJDhiLwSoYXqqETtJJc4XAJKR7FmXQrQ=="
)


def test_request_sign_content_sorts_drops_empties_and_keeps_values_raw():
    assert proto.request_sign_content({**KAT_PARAMS, "sign": "x"}) == (
        'app_id=2021000000000001&biz_content={"out_trade_no":"HT202611240001",'
        '"total_amount":"2237.50","subject":"采暖费"}&charset=utf-8&format=JSON'
        "&method=alipay.trade.precreate&notify_url=https://heat.example.cn/payments/notify/alipay"
        "&sign_type=RSA2&timestamp=2026-11-24 20:00:00&version=1.0"
    )


def test_request_signature_is_the_known_answer():
    assert proto.sign_request(KAT_PARAMS, KAT_KEY) == KAT_SIGN
    proto.verify_request({**KAT_PARAMS, "sign": KAT_SIGN}, KAT_KEY.public_key())


def test_a_changed_parameter_or_sign_type_fails_request_verification():
    signed = {**KAT_PARAMS, "sign": KAT_SIGN}
    for changes in (
        {"timestamp": "2026-11-24 20:00:01"},
        {"sign_type": "RSA"},
        {"sign": ""},
        {"extra": "1"},
    ):
        with pytest.raises(VerificationError):
            proto.verify_request({**signed, **changes}, KAT_KEY.public_key())


def test_an_answer_verifies_on_its_raw_node_text_whatever_its_key_order(payment_keys):
    key = payment_keys.alipay_gateway_key
    # The node as Alipay wrote it: keys unsorted, spaces, "/" escaped, a brace in a string.
    node_text = (
        '{"msg": "Success","code":"10000","qr_code":"https:\\/\\/qr.alipay.com\\/bax01",'
        ' "subject":"供暖费 }{", "out_trade_no":"HT1"}'
    )
    from heatdesk.payments.providers.keys import rsa_sha256_sign

    sign = rsa_sha256_sign(key, node_text.encode())
    raw = f'{{"alipay_trade_precreate_response" : {node_text} ,"sign":"{sign}"}}'
    answer = proto.verify_response(
        raw, method="alipay.trade.precreate", public_key=key.public_key()
    )
    assert answer.node["qr_code"] == "https://qr.alipay.com/bax01"
    assert answer.node_text == node_text
    # a re-serialisation would not verify: the rule is the raw substring
    reserialised = json.dumps(json.loads(node_text), ensure_ascii=False, sort_keys=True)
    with pytest.raises(VerificationError):
        proto.verify_response(
            raw.replace(node_text, reserialised),
            method="alipay.trade.precreate",
            public_key=key.public_key(),
        )


def test_answers_that_cannot_be_trusted_are_refused(payment_keys, stranger_key):
    key = payment_keys.alipay_gateway_key
    good = proto.build_response("alipay_trade_query_response", {"code": "10000", "a": "1"}, key)
    method = "alipay.trade.query"
    forged = proto.build_response("alipay_trade_query_response", {"code": "10000"}, stranger_key)
    twice = good[:-1] + ',"alipay_trade_query_response":{"code":"10000","a":"2"}}'
    unsigned = '{"alipay_trade_query_response":{"code":"10000"}}'
    for raw in (forged, twice, unsigned, good.replace('"1"', '"2"'), "[]", good + "x"):
        with pytest.raises(VerificationError):
            proto.verify_response(raw, method=method, public_key=key.public_key())


def test_an_unsigned_error_response_is_marked_unsigned(payment_keys):
    raw = (
        '{"error_response":{"code":"40002","msg":"Invalid Arguments",'
        '"sub_code":"isv.invalid-signature"}}'
    )
    answer = proto.verify_response(
        raw, method="alipay.trade.query", public_key=payment_keys.alipay_gateway_key.public_key()
    )
    assert (answer.node_name, answer.signed, answer.node["code"]) == (
        "error_response",
        False,
        "40002",
    )


def test_python_alipay_sdk_verifies_our_answers_and_we_verify_its_requests(payment_keys):
    app_key, gateway_key = payment_keys.alipay_app_key, payment_keys.alipay_gateway_key
    sdk = AliPay(
        appid="2021000000000001",
        app_private_key_string=private_key_pem(app_key),
        alipay_public_key_string=public_key_pem(gateway_key.public_key()),
    )
    raw = proto.build_response(
        "alipay_trade_query_response",
        {"code": "10000", "msg": "Success", "qr_code": "https://qr.example/1", "subject": "采暖费"},
        gateway_key,
    )
    assert "https:\\/\\/qr.example\\/1" in raw
    assert sdk._verify_and_return_sync_response(raw, "alipay_trade_query_response")["subject"] == (
        "采暖费"
    )
    body = sdk.build_body("alipay.trade.query", {"out_trade_no": "HT1"})
    from urllib.parse import parse_qsl

    signed = dict(parse_qsl(sdk.sign_data(body)))
    proto.verify_request(signed, app_key.public_key())


def test_notify_verification_keeps_empty_values_and_ignores_sign_type(payment_keys):
    key = payment_keys.alipay_gateway_key
    params = {
        "notify_id": "n1",
        "out_trade_no": "HT1",
        "total_amount": "0.01",
        "body": "",
        "trade_status": "TRADE_SUCCESS",
    }
    sign = proto.sign_notify(params, key)
    assert proto.notify_sign_content(params).startswith("body=&notify_id=n1")
    proto.verify_notify({**params, "sign": sign, "sign_type": "RSA2"}, key.public_key())
    proto.verify_notify({**params, "sign": sign}, key.public_key())
    for changes in (
        {"total_amount": "100.00"},
        {"body": "x"},
        {"sign_type": "RSA"},
        {"sign": ""},
        {"extra": ""},
    ):
        with pytest.raises(VerificationError):
            proto.verify_notify({**params, "sign": sign, **changes}, key.public_key())
    # python-alipay-sdk agrees
    sdk = AliPay(
        appid="2021000000000001",
        app_private_key_string=private_key_pem(payment_keys.alipay_app_key),
        alipay_public_key_string=public_key_pem(key.public_key()),
    )
    assert sdk.verify({**params, "sign_type": "RSA2"}, sign)
    assert not sdk.verify({**params, "total_amount": "100.00"}, sign)


def test_timestamps_are_beijing_time_whatever_the_server_zone():
    import datetime as dt

    assert (
        proto.timestamp(dt.datetime(2026, 11, 24, 16, 30, tzinfo=dt.UTC)) == "2026-11-25 00:30:00"
    )


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(node=st.dictionaries(st.text(min_size=1, max_size=10), _TEXT | st.integers(), max_size=6))
def test_any_signed_node_verifies_and_reads_back_exactly(payment_keys, node):
    # braces, quotes, slashes and backslashes in values must not move the node's boundaries
    key = payment_keys.alipay_gateway_key
    raw = proto.build_response("alipay_trade_query_response", node, key)
    answer = proto.verify_response(raw, method="alipay.trade.query", public_key=key.public_key())
    assert answer.node == node
