"""The sandbox simulators: wx.login() codes, jscode2session, and the SMS inbox."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from heatdesk.sandbox.models import SandboxSms, SandboxWechatCode
from heatdesk.sandbox.services import wechat_code_issue
from heatdesk.sandbox.sms import SandboxSmsProvider
from heatdesk.testing import ApiClient

START = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)


def jscode2session(settings, code: str, **overrides: str) -> dict:
    params = {
        "appid": settings.WECHAT_MINI_APPID,
        "secret": settings.WECHAT_MINI_SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
        **overrides,
    }
    response = Client().get("/sandbox/wechat/sns/jscode2session", params)
    # WeChat answers errors with HTTP 200 and an errcode, and so does the simulator
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_login_codes_are_one_time_for_a_stable_openid():
    first = ApiClient().post("sandbox/wechat/login-code", {"user_key": "alice"})
    second = ApiClient().post("sandbox/wechat/login-code", {"user_key": "alice"})
    other = ApiClient().post("sandbox/wechat/login-code", {"user_key": "bob"})
    assert first.status_code == second.status_code == other.status_code == 201
    assert first.json()["openid"] == second.json()["openid"]
    assert first.json()["code"] != second.json()["code"]
    assert other.json()["openid"] != first.json()["openid"]
    assert SandboxWechatCode.objects.filter(used_at=None).count() == 3


@pytest.mark.django_db
def test_a_login_code_needs_a_user_key():
    response = ApiClient().post("sandbox/wechat/login-code", {"user_key": ""})
    assert response.status_code == 422
    assert "user_key" in response.json()["fields"]
    assert not SandboxWechatCode.objects.exists()


@pytest.mark.django_db
def test_jscode2session_exchanges_a_code_once(settings):
    issued = wechat_code_issue(appid=settings.WECHAT_MINI_APPID, user_key="alice")
    answer = jscode2session(settings, issued.code)
    assert answer == {"openid": issued.openid, "session_key": issued.session_key}
    issued.refresh_from_db()
    assert issued.used_at is not None
    # like WeChat: a used code is 40163, an unknown one 40029
    assert jscode2session(settings, issued.code)["errcode"] == 40163
    assert jscode2session(settings, "no-such-code")["errcode"] == 40029


@pytest.mark.django_db
def test_jscode2session_refuses_an_expired_code(settings):
    with time_machine.travel(START, tick=False) as clock:
        issued = wechat_code_issue(appid=settings.WECHAT_MINI_APPID, user_key="alice")
        clock.shift(dt.timedelta(minutes=5, seconds=1))
        assert jscode2session(settings, issued.code)["errcode"] == 40029
    issued.refresh_from_db()
    assert issued.used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({"secret": "wrong"}, 40125),
        ({"appid": "wx-other"}, 40125),
        ({"grant_type": "client_credential"}, 40097),
        ({"js_code": ""}, 40097),
    ],
)
def test_jscode2session_checks_the_app_and_the_arguments(settings, overrides, errcode):
    issued = wechat_code_issue(appid=settings.WECHAT_MINI_APPID, user_key="alice")
    assert jscode2session(settings, issued.code, **overrides)["errcode"] == errcode
    issued.refresh_from_db()
    assert issued.used_at is None


@pytest.mark.django_db
def test_the_sandbox_sms_provider_delivers_to_the_inbox():
    from heatdesk.notifications.sms.base import SmsMessage

    receipt = SandboxSmsProvider().send(
        SmsMessage(phone="13812345678", template="login_code", params={}, text="【HeatDesk】hi")
    )
    message = SandboxSms.objects.get()
    assert (receipt.provider, receipt.message_id) == ("sandbox", message.message_id)
    assert (message.phone, message.text, message.template) == (
        "13812345678",
        "【HeatDesk】hi",
        "login_code",
    )


@pytest.mark.django_db
def test_the_inbox_lists_newest_first_and_filters_by_phone():
    with time_machine.travel(START, tick=False) as clock:
        for i, phone in enumerate(["13800000001", "13800000002", "13800000001"]):
            SandboxSms.objects.create(
                phone=phone, text=f"text {i}", template="login_code", message_id=f"m{i}"
            )
            clock.shift(dt.timedelta(seconds=1))
    everything = ApiClient().get("sandbox/sms").json()
    assert [m["text"] for m in everything] == ["text 2", "text 1", "text 0"]
    one_phone = ApiClient().get("sandbox/sms?phone=13800000001").json()
    assert [m["text"] for m in one_phone] == ["text 2", "text 0"]
    assert [m["text"] for m in ApiClient().get("sandbox/sms?limit=1").json()] == ["text 2"]
    assert len(ApiClient().get("sandbox/sms?limit=0").json()) == 1
    page = Client().get("/sandbox/sms/", {"phone": "13800000002"})
    assert page.status_code == 200
    assert "text 1" in page.content.decode()
    assert "text 2" not in page.content.decode()


@pytest.mark.django_db
def test_the_inbox_refuses_a_limit_that_is_not_a_number():
    response = ApiClient().get("sandbox/sms?limit=many")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
