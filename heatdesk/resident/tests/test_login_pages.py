"""SMS-code login with consent, logout and the consent page, through Django's test client."""

import pytest
from django.conf import settings
from django.test import Client

from heatdesk.accounts.models import PrivacyConsent, SmsCode, User
from heatdesk.accounts.services import phone_hash
from heatdesk.resident.tests.sms import latest_code
from heatdesk.sandbox.models import SandboxSms

PHONE = "13512340000"
LOGIN = "/m/login/"


def _send(client: Client, phone: str = PHONE):
    return client.post(LOGIN, {"action": "send", "phone": phone})


def _login(client: Client, *, code: str, agree: bool = True, version: str | None = None, **extra):
    data = {
        "action": "login",
        "phone": PHONE,
        "code": code,
        "privacy_version": version or settings.PRIVACY_POLICY_VERSION,
        **extra,
    }
    if agree:
        data["agree"] = "on"
    return client.post(LOGIN, data)


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


@pytest.mark.django_db
def test_login_page_shows_phone_code_and_consent_with_a_csrf_token():
    response = Client().get(LOGIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="phone"' in html
    assert 'name="code"' in html
    assert 'type="checkbox" name="agree"' in html
    assert 'href="/m/privacy/"' in html
    assert "获取验证码" in html
    assert '<html lang="zh-Hans">' in html


@pytest.mark.django_db
def test_sending_a_code_delivers_it_and_keeps_the_phone_in_the_form():
    response = _send(Client())
    html = response.content.decode()
    assert response.status_code == 200
    assert "验证码已发送" in html
    assert f'value="{PHONE}"' in html
    assert f'data-wait="{settings.SMS_CODE_INTERVAL_SECONDS}"' in html
    assert SandboxSms.objects.filter(phone=PHONE).count() == 1
    assert SmsCode.objects.filter(phone_hash=phone_hash(PHONE)).count() == 1


@pytest.mark.django_db
def test_sending_again_too_soon_shows_the_wait_on_the_phone_field():
    client = Client()
    _send(client)
    response = _send(client)
    html = response.content.decode()
    assert 'id="id_phone-error"' in html
    assert "秒后再试" in html
    assert 'aria-invalid="true"' in html
    assert SandboxSms.objects.filter(phone=PHONE).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("phone", "message"),
    [("", "请输入手机号。"), ("12345", "请输入11位手机号码。"), ("1" * 21, "请输入11位手机号码。")],
)
def test_sending_to_a_missing_or_malformed_phone_is_refused_on_the_field(phone, message):
    response = _send(Client(), phone)
    html = response.content.decode()
    assert f'<p class="field-error" id="id_phone-error">{message}</p>' in html
    assert not SandboxSms.objects.exists()
    assert not SmsCode.objects.exists()


@pytest.mark.django_db
def test_code_and_consent_sign_in_and_record_the_policy_version():
    client = Client()
    _send(client)
    response = _login(client, code=latest_code(PHONE))
    assert response.status_code == 302
    assert response["Location"] == "/m/"
    user = User.objects.get(phone_hash=phone_hash(PHONE))
    assert _signed_in_user_id(client) == str(user.pk)
    assert user.privacy_version == settings.PRIVACY_POLICY_VERSION
    assert PrivacyConsent.objects.filter(
        user=user, version=settings.PRIVACY_POLICY_VERSION
    ).exists()
    assert SmsCode.objects.get(phone_hash=phone_hash(PHONE)).consumed_at is not None
    assert client.get("/m/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("next_url", "landing"),
    [("/m/houses/bind/", "/m/houses/bind/"), ("https://evil.example/", "/m/")],
)
def test_login_returns_to_a_local_next_page_only(next_url, landing):
    client = Client()
    _send(client)
    response = _login(client, code=latest_code(PHONE), next=next_url)
    assert response["Location"] == landing
    assert _signed_in_user_id(client) is not None


@pytest.mark.django_db
def test_login_without_consent_is_refused_before_the_code_is_spent():
    client = Client()
    _send(client)
    response = _login(client, code=latest_code(PHONE), agree=False)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<p class="field-error" id="id_agree-error">请阅读并同意隐私政策。</p>' in html
    assert _signed_in_user_id(client) is None
    assert not User.objects.exists()
    code = SmsCode.objects.get()
    assert (code.consumed_at, code.attempts) == (None, 0)


@pytest.mark.django_db
def test_login_with_an_outdated_policy_version_is_refused_before_the_code_is_spent():
    client = Client()
    _send(client)
    response = _login(client, code=latest_code(PHONE), version="2000-01")
    html = response.content.decode()
    assert "隐私政策已更新，请阅读最新版本后再同意。" in html
    assert f'name="privacy_version" value="{settings.PRIVACY_POLICY_VERSION}"' in html
    assert _signed_in_user_id(client) is None
    assert not User.objects.exists()
    assert SmsCode.objects.get().consumed_at is None


@pytest.mark.django_db
def test_a_wrong_code_shows_on_the_code_field_and_signs_nobody_in():
    client = Client()
    _send(client)
    wrong = f"{(int(latest_code(PHONE)) + 1) % 10**6:06d}"
    response = _login(client, code=wrong)
    html = response.content.decode()
    assert '<p class="field-error" id="id_code-error">验证码错误或已过期。</p>' in html
    assert 'aria-describedby="id_code-error"' in html
    assert '<div class="toptips" role="alert"' in html
    assert _signed_in_user_id(client) is None
    assert not User.objects.exists()
    code = SmsCode.objects.get()
    assert (code.consumed_at, code.attempts) == (None, 1)


@pytest.mark.django_db
def test_an_empty_login_lists_every_missing_field():
    response = Client().post(LOGIN, {"action": "login"})
    html = response.content.decode()
    assert '<p class="field-error" id="id_phone-error">请输入手机号。</p>' in html
    assert '<p class="field-error" id="id_code-error">请输入验证码。</p>' in html
    assert '<p class="field-error" id="id_agree-error">请阅读并同意隐私政策。</p>' in html
    assert not User.objects.exists()


@pytest.mark.django_db
def test_too_many_wrong_codes_lock_the_phone_with_a_message(settings):
    settings.SMS_CODE_MAX_ATTEMPTS = 2
    client = Client()
    _send(client)
    wrong = f"{(int(latest_code(PHONE)) + 1) % 10**6:06d}"
    _login(client, code=wrong)
    response = _login(client, code=wrong)
    html = response.content.decode()
    assert '<p class="field-error" id="id_code-error">错误次数过多，请稍后再试。</p>' in html
    assert _signed_in_user_id(client) is None
    assert SmsCode.objects.get().consumed_at is not None  # the lock spends the code


@pytest.mark.django_db
def test_a_disabled_account_cannot_sign_in(resident):
    User.objects.filter(pk=resident.pk).update(is_active=False)
    client = Client()
    _send(client, "13812345678")
    response = client.post(
        LOGIN,
        {
            "action": "login",
            "phone": "13812345678",
            "code": latest_code("13812345678"),
            "agree": "on",
            "privacy_version": settings.PRIVACY_POLICY_VERSION,
        },
    )
    assert "账户已停用，请联系客服。" in response.content.decode()
    assert _signed_in_user_id(client) is None


@pytest.mark.django_db
def test_a_returning_resident_signs_in_to_the_same_account(resident):
    client = Client()
    _send(client, "13812345678")
    response = client.post(
        LOGIN,
        {
            "action": "login",
            "phone": "13812345678",
            "code": latest_code("13812345678"),
            "agree": "on",
            "privacy_version": settings.PRIVACY_POLICY_VERSION,
        },
    )
    assert response.status_code == 302
    assert _signed_in_user_id(client) == str(resident.pk)
    assert User.objects.count() == 1
    assert PrivacyConsent.objects.filter(user=resident).count() == 1


def test_the_login_page_sends_a_signed_in_resident_home(resident_client):
    response = resident_client.get(LOGIN)
    assert (response.status_code, response["Location"]) == (302, "/m/")


def test_logout_needs_a_post_and_then_signs_out(resident_client, resident):
    assert resident_client.get("/m/logout/").status_code == 405
    assert _signed_in_user_id(resident_client) == str(resident.pk)
    response = resident_client.post("/m/logout/")
    assert (response.status_code, response["Location"]) == (302, "/m/login/")
    assert _signed_in_user_id(resident_client) is None
    assert resident_client.get("/m/")["Location"] == "/m/login/?next=/m/"
    assert "已退出登录" in resident_client.get("/m/login/").content.decode()


def test_a_staff_session_is_not_a_resident(collector):
    client = Client()
    client.force_login(collector)
    response = client.get("/m/")
    assert (response.status_code, response["Location"]) == (302, "/m/login/?next=/m/")


def test_a_resident_without_current_consent_is_asked_again_and_nothing_changes_until_agreed(db):
    from heatdesk.testing import make_resident

    user = make_resident("13700001111", consented=False)
    client = Client()
    client.force_login(user)

    response = client.get("/m/houses/bind/")
    assert response["Location"] == "/m/consent/?next=/m/houses/bind/"
    page = client.get(response["Location"])
    assert settings.PRIVACY_POLICY_VERSION in page.content.decode()

    refused = client.post("/m/consent/", {"privacy_version": settings.PRIVACY_POLICY_VERSION})
    assert "请阅读并同意隐私政策。" in refused.content.decode()
    user.refresh_from_db()
    assert user.privacy_version == ""
    assert not PrivacyConsent.objects.filter(user=user).exists()

    accepted = client.post(
        "/m/consent/",
        {
            "agree": "on",
            "privacy_version": settings.PRIVACY_POLICY_VERSION,
            "next": "/m/houses/bind/",
        },
    )
    assert accepted["Location"] == "/m/houses/bind/"
    user.refresh_from_db()
    assert user.privacy_version == settings.PRIVACY_POLICY_VERSION
    assert client.get("/m/houses/bind/").status_code == 200


def test_the_consent_page_sends_visitors_to_log_in(db):
    response = Client().get("/m/consent/")
    assert response["Location"].startswith("/m/login/?next=")
