import base64
import datetime as dt
import hashlib
import hmac
import json
import logging

import pytest
import time_machine

from heatdesk.notifications.sms.aliyun import AliyunSmsProvider, rpc_signature
from heatdesk.notifications.sms.base import SmsError, SmsMessage
from heatdesk.notifications.sms.registry import get_provider
from heatdesk.notifications.tests.stubs import Forced, aliyun_string_to_sign

PHONE = "13812345678"
CODE = "246810"


def _message(phone: str = PHONE, code: str = CODE) -> SmsMessage:
    return SmsMessage(
        phone=phone,
        template="login_code",
        params={"code": code},
        text=f"【供热服务】您的验证码为{code}，5分钟内有效，请勿泄露给他人。",
    )


def _send_expecting_error(provider, message=None) -> SmsError:
    with pytest.raises(SmsError) as caught:
        provider.send(message or _message())
    return caught.value


# Known answers --------------------------------------------------------------------------------

# The worked example of Aliyun's SMS signature documentation (AccessKey secret "testSecret").
DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
DOC_SIGNATURE = "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_signature_matches_the_documented_example():
    assert rpc_signature(DOC_PARAMS, secret="testSecret") == DOC_SIGNATURE
    assert rpc_signature(DOC_PARAMS, secret="otherSecret") != DOC_SIGNATURE


def test_the_stub_verifier_reproduces_the_documented_example():
    # The stub must be right for its verdicts to mean anything.
    to_sign = aliyun_string_to_sign("GET", DOC_PARAMS)
    digest = hmac.new(b"testSecret&", to_sign.encode(), hashlib.sha1).digest()
    assert base64.b64encode(digest).decode() == DOC_SIGNATURE


# Written out by hand from the rules; the signature was computed with
# `printf '%s' "$STRING_TO_SIGN" | openssl dgst -sha1 -hmac 'stub-secret&' -binary | base64`.
KAT_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DLTAI-stub%26Action%3DSendSms%26Format%3DJSON"
    "%26PhoneNumbers%3D13812345678%26RegionId%3Dcn-hangzhou"
    "%26SignName%3D%25E4%25BE%259B%25E7%2583%25AD%25E6%259C%258D%25E5%258A%25A1"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D6d0c1f0e4b2a4f7e9a3d5c8b1e2f4a6c"
    "%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_480001"
    "%26TemplateParam%3D%257B%2522code%2522%253A%2522246810%2522%257D"
    "%26Timestamp%3D2026-01-15T08%253A30%253A00Z%26Version%3D2017-05-25"
)
KAT_SIGNATURE = "nupxdRmcITzGb6vhIzh3hMF5+P0="


def test_send_signs_a_fixed_request_with_the_known_signature(aliyun_stub):
    # given a fixed clock and nonce
    provider = AliyunSmsProvider(nonce=lambda: "6d0c1f0e4b2a4f7e9a3d5c8b1e2f4a6c")
    with time_machine.travel(dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC), tick=False):
        # when
        receipt = provider.send(_message())
    # then
    seen = aliyun_stub.requests[0]
    assert seen.string_to_sign == KAT_STRING_TO_SIGN
    assert seen.params["Signature"] == KAT_SIGNATURE
    assert seen.signature_valid is True
    assert receipt.message_id.endswith("^0")


# Sending -------------------------------------------------------------------------------------


def test_successful_send_returns_the_biz_id_and_sends_what_was_asked(aliyun_stub):
    # when
    receipt = get_provider().send(_message())
    # then
    assert len(aliyun_stub.requests) == 1
    seen = aliyun_stub.requests[0]
    assert seen.signature_valid is True
    assert seen.answer_code == "OK"
    assert seen.method == "GET"
    assert seen.params["PhoneNumbers"] == PHONE
    assert seen.params["SignName"] == "供热服务"
    assert seen.params["TemplateCode"] == "SMS_480001"
    assert json.loads(seen.params["TemplateParam"]) == {"code": CODE}
    assert seen.params["AccessKeyId"] == "LTAI-stub"
    assert receipt.provider == "aliyun"
    assert receipt.message_id == "900619746936498001^0"


def test_each_request_gets_a_fresh_nonce(aliyun_stub):
    # The stub refuses a reused nonce, so two successes prove two nonces.
    provider = get_provider()
    first = provider.send(_message())
    second = provider.send(_message())
    nonces = {seen.params["SignatureNonce"] for seen in aliyun_stub.requests}
    assert len(nonces) == 2
    assert first.message_id != second.message_id


def test_wrong_secret_is_refused_by_the_signature_check_and_not_retried(aliyun_stub, settings):
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "not-the-secret"
    # when
    error = _send_expecting_error(get_provider())
    # then
    seen = aliyun_stub.requests[0]
    assert seen.signature_valid is False
    assert seen.answer_code == "SignatureDoesNotMatch"
    assert error.retryable is False
    assert "SignatureDoesNotMatch" in str(error)
    # The service echoes its string to sign; the phone and the code must not end up stored.
    assert PHONE not in str(error)
    assert CODE not in str(error)


def test_unknown_access_key_is_not_retried(aliyun_stub, settings):
    settings.ALIYUN_SMS_ACCESS_KEY_ID = "LTAI-unknown"
    error = _send_expecting_error(get_provider())
    assert aliyun_stub.requests[0].answer_code == "InvalidAccessKeyId.NotFound"
    assert error.retryable is False


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", 200, True),
        ("Throttling.User", 400, True),
        ("Throttling", 400, True),
        ("isp.SYSTEM_ERROR", 200, True),
        ("ServiceUnavailable", 503, True),
        ("InternalError", 500, True),
        ("isv.DAY_LIMIT_CONTROL", 200, False),
        ("isv.AMOUNT_NOT_ENOUGH", 200, False),
        ("isv.RAM_PERMISSION_DENY", 200, False),
    ],
)
def test_provider_codes_map_to_retryable_or_final(aliyun_stub, code, status, retryable):
    aliyun_stub.forced = Forced(code=code, message="触发分钟级流控Permits:1", status=status)
    error = _send_expecting_error(get_provider())
    assert aliyun_stub.requests[0].signature_valid is True
    assert error.retryable is retryable
    assert code in str(error)


def test_invalid_phone_is_not_retried(aliyun_stub):
    error = _send_expecting_error(get_provider(), _message(phone="2381234567"))
    assert aliyun_stub.requests[0].answer_code == "isv.MOBILE_NUMBER_ILLEGAL"
    assert error.retryable is False


def test_unapproved_template_is_not_retried(aliyun_stub, settings):
    settings.SMS_LOGIN_TEMPLATE = "SMS_000000"
    error = _send_expecting_error(get_provider())
    assert aliyun_stub.requests[0].answer_code == "isv.SMS_TEMPLATE_ILLEGAL"
    assert error.retryable is False


def test_unapproved_sign_name_is_not_retried(aliyun_stub, settings):
    settings.SMS_SIGN_NAME = "别的公司"
    error = _send_expecting_error(get_provider())
    assert aliyun_stub.requests[0].answer_code == "isv.SMS_SIGNATURE_ILLEGAL"
    assert error.retryable is False


# Transport failures --------------------------------------------------------------------------


def test_server_error_page_is_retryable(aliyun_stub):
    aliyun_stub.raw_answer = (500, b"<html><body>500 Internal Server Error</body></html>")
    error = _send_expecting_error(get_provider())
    assert len(aliyun_stub.requests) == 1
    assert error.retryable is True
    assert "HTTP 500" in str(error)


def test_connection_refused_is_retryable(aliyun_stub, settings, closed_port_url):
    settings.ALIYUN_SMS_ENDPOINT = closed_port_url
    error = _send_expecting_error(get_provider())
    assert error.retryable is True
    assert "network error" in str(error)
    assert aliyun_stub.requests == []


def test_timeout_is_retryable(aliyun_stub):
    aliyun_stub.delay = 2.0
    error = _send_expecting_error(AliyunSmsProvider(timeout=0.2))
    assert len(aliyun_stub.requests) == 1  # the request arrived; the answer came too late
    assert error.retryable is True
    assert "network error" in str(error)


def test_default_timeout_is_five_seconds():
    assert AliyunSmsProvider().timeout == 5.0


def test_missing_credentials_fail_without_a_request(aliyun_stub, settings):
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = ""
    error = _send_expecting_error(get_provider())
    assert error.retryable is False
    assert aliyun_stub.requests == []


def test_logs_show_the_masked_phone_only(aliyun_stub, settings, caplog):
    caplog.set_level(logging.INFO, logger="heatdesk.sms")
    get_provider().send(_message())
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "not-the-secret"
    _send_expecting_error(get_provider())
    assert "138****5678" in caplog.text
    assert PHONE not in caplog.text
    assert CODE not in caplog.text
