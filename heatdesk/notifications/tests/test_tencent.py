import datetime as dt
import logging

import pytest
import time_machine

from heatdesk.notifications.sms.base import SmsError, SmsMessage
from heatdesk.notifications.sms.registry import get_provider
from heatdesk.notifications.sms.tencent import TencentSmsProvider, tc3_authorization
from heatdesk.notifications.tests.stubs import Forced, tencent_signature

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

# The worked example of Tencent Cloud's "Signature v3" page (CVM DescribeInstances).
DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
DOC_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
    "SignedHeaders=content-type;host, "
    "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
)


def test_signature_matches_the_documented_example():
    authorization = tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        timestamp=1551113065,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Host": "cvm.tencentcloudapi.com",
        },
        payload=DOC_PAYLOAD,
    )
    assert authorization == DOC_AUTHORIZATION


def test_the_stub_verifier_reproduces_the_documented_example():
    canonical_request = (
        "POST\n/\n\n"
        "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    to_sign, signature = tencent_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        date="2019-02-25",
        service="cvm",
        timestamp="1551113065",
        canonical_request=canonical_request,
    )
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


# Our SendSms body at 2026-01-15T08:30:00Z (1768465800). The signature was computed by hand with
# sha256sum and `openssl dgst -sha256 -mac HMAC -macopt hexkey:…` over the canonical request
# "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:sms.tencentcloudapi.com\n
# x-tc-action:sendsms\n\ncontent-type;host;x-tc-action\n<sha256 of the body>".
KAT_PAYLOAD = (
    '{"PhoneNumberSet":["+8613812345678"],"SmsSdkAppId":"1400800001","SignName":"供热服务",'
    '"TemplateId":"1860001","TemplateParamSet":["246810"]}'
).encode()
KAT_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKID-stub/2026-01-15/sms/tc3_request, "
    "SignedHeaders=content-type;host;x-tc-action, "
    "Signature=5f7084687aef43ffc34887e0f86c2ec22fe7ca2236d7e04867fda798da9dc0d7"
)
KAT_MOMENT = dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC)


def test_send_sms_request_has_the_known_signature():
    authorization = tc3_authorization(
        secret_id="AKID-stub",
        secret_key="stub-tencent-key",
        service="sms",
        timestamp=1768465800,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Host": "sms.tencentcloudapi.com",
            "X-TC-Action": "SendSms",
        },
        payload=KAT_PAYLOAD,
    )
    assert authorization == KAT_AUTHORIZATION


def test_send_posts_the_known_body_with_the_signed_headers(tencent_stub):
    # given a fixed clock
    with time_machine.travel(KAT_MOMENT, tick=False):
        # when
        get_provider().send(_message())
    # then
    seen = tencent_stub.requests[0]
    assert seen.raw_body == KAT_PAYLOAD
    assert seen.headers["x-tc-timestamp"] == "1768465800"
    assert seen.headers["host"] == f"127.0.0.1:{tencent_stub.port}"
    assert seen.signed_headers == "content-type;host;x-tc-action"
    assert seen.signature_valid is True


# Sending -------------------------------------------------------------------------------------


def test_successful_send_returns_the_serial_number_and_sends_what_was_asked(tencent_stub):
    # when
    receipt = get_provider().send(_message())
    # then
    assert len(tencent_stub.requests) == 1
    seen = tencent_stub.requests[0]
    assert seen.signature_valid is True
    assert seen.answer_code == "Ok"
    assert seen.method == "POST"
    assert seen.headers["x-tc-action"] == "SendSms"
    assert seen.headers["x-tc-version"] == "2021-01-11"
    assert seen.headers["x-tc-region"] == "ap-guangzhou"
    assert seen.params == {
        "PhoneNumberSet": ["+86" + PHONE],
        "SmsSdkAppId": "1400800001",
        "SignName": "供热服务",
        "TemplateId": "1860001",
        "TemplateParamSet": [CODE],
    }
    assert receipt.provider == "tencent"
    assert receipt.message_id == "2645:104571066915705365784950"


def test_wrong_secret_is_refused_by_the_signature_check_and_not_retried(tencent_stub, settings):
    settings.TENCENT_SMS_SECRET_KEY = "not-the-key"
    error = _send_expecting_error(get_provider())
    seen = tencent_stub.requests[0]
    assert seen.signature_valid is False
    assert seen.answer_code == "AuthFailure.SignatureFailure"
    assert error.retryable is False
    assert "AuthFailure.SignatureFailure" in str(error)


def test_unknown_secret_id_is_not_retried(tencent_stub, settings):
    settings.TENCENT_SMS_SECRET_ID = "AKID-unknown"
    error = _send_expecting_error(get_provider())
    assert tencent_stub.requests[0].answer_code == "AuthFailure.SecretIdNotFound"
    assert error.retryable is False


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("RequestLimitExceeded", True),
        ("LimitExceeded.DeliveryFrequencyLimit", True),
        ("InternalError.Timeout", True),
        ("InternalError", True),
        ("FailedOperation.InsufficientBalanceInSmsPackage", False),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", False),
    ],
)
def test_request_errors_map_to_retryable_or_final(tencent_stub, code, retryable):
    tencent_stub.forced = Forced(code=code)
    error = _send_expecting_error(get_provider())
    assert tencent_stub.requests[0].signature_valid is True
    assert error.retryable is retryable
    assert code in str(error)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("LimitExceeded.PhoneNumberThirtySecondLimit", True),
        ("LimitExceeded.PhoneNumberOneHourLimit", True),
        ("LimitExceeded.PhoneNumberDailyLimit", False),
        ("FailedOperation.PhoneNumberInBlacklist", False),
    ],
)
def test_per_number_codes_map_to_retryable_or_final(tencent_stub, code, retryable):
    tencent_stub.forced_status = Forced(code=code)
    error = _send_expecting_error(get_provider())
    assert tencent_stub.requests[0].answer_code == code
    assert error.retryable is retryable
    assert code in str(error)


def test_invalid_phone_is_not_retried(tencent_stub):
    error = _send_expecting_error(get_provider(), _message(phone="2381234567"))
    assert tencent_stub.requests[0].answer_code == "InvalidParameterValue.IncorrectPhoneNumber"
    assert error.retryable is False


def test_unapproved_template_is_not_retried(tencent_stub, settings):
    settings.SMS_LOGIN_TEMPLATE = "999"
    error = _send_expecting_error(get_provider())
    assert tencent_stub.requests[0].answer_code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert error.retryable is False


def test_wrong_sdk_app_id_is_not_retried(tencent_stub, settings):
    settings.TENCENT_SMS_SDK_APP_ID = "1400999999"
    error = _send_expecting_error(get_provider())
    assert tencent_stub.requests[0].answer_code == "InvalidParameterValue.SdkAppIdNotExist"
    assert error.retryable is False


# Transport failures --------------------------------------------------------------------------


def test_server_error_page_is_retryable(tencent_stub):
    tencent_stub.raw_answer = (502, b"<html><body>502 Bad Gateway</body></html>")
    error = _send_expecting_error(get_provider())
    assert len(tencent_stub.requests) == 1
    assert error.retryable is True
    assert "HTTP 502" in str(error)


def test_connection_refused_is_retryable(tencent_stub, settings, closed_port_url):
    settings.TENCENT_SMS_ENDPOINT = closed_port_url
    error = _send_expecting_error(get_provider())
    assert error.retryable is True
    assert "network error" in str(error)
    assert tencent_stub.requests == []


def test_timeout_is_retryable(tencent_stub):
    tencent_stub.delay = 2.0
    error = _send_expecting_error(TencentSmsProvider(timeout=0.2))
    assert len(tencent_stub.requests) == 1
    assert error.retryable is True
    assert "network error" in str(error)


def test_default_timeout_is_five_seconds():
    assert TencentSmsProvider().timeout == 5.0


def test_missing_credentials_fail_without_a_request(tencent_stub, settings):
    settings.TENCENT_SMS_SECRET_KEY = ""
    error = _send_expecting_error(get_provider())
    assert error.retryable is False
    assert tencent_stub.requests == []


def test_logs_show_the_masked_phone_only(tencent_stub, settings, caplog):
    caplog.set_level(logging.INFO, logger="heatdesk.sms")
    get_provider().send(_message())
    tencent_stub.forced_status = Forced(code="LimitExceeded.PhoneNumberThirtySecondLimit")
    _send_expecting_error(get_provider())
    assert "138****5678" in caplog.text
    assert PHONE not in caplog.text
    assert CODE not in caplog.text
