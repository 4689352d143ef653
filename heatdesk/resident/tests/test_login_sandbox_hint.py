"""In sandbox mode no SMS leaves the machine: the login page says so and links to the sandbox
inbox, filtered to the number typed, where the code can be read."""

import pytest
from django.test import Client

from heatdesk.accounts.models import SmsCode
from heatdesk.resident.tests.sms import latest_code
from heatdesk.sandbox.models import SandboxSms

LOGIN = "/m/login/"
PHONE = "13512340077"


@pytest.mark.django_db
def test_the_login_page_links_to_the_sandbox_inbox():
    html = Client().get(LOGIN).content.decode()

    assert 'data-testid="sandbox-sms"' in html
    assert "演示环境不会真的发送短信。" in html
    assert (
        '<a href="/sandbox/sms/" target="_blank" rel="noopener">在短信收件箱查看验证码</a>' in html
    )


@pytest.mark.django_db
def test_after_sending_the_link_opens_the_inbox_on_that_number_with_the_code():
    client = Client()

    response = client.post(LOGIN, {"action": "send", "phone": PHONE})

    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/sandbox/sms/?phone={PHONE}"' in html
    inbox = client.get(f"/sandbox/sms/?phone={PHONE}").content.decode()
    assert latest_code(PHONE) in inbox
    assert SandboxSms.objects.filter(phone=PHONE).count() == 1
    assert SmsCode.objects.count() == 1


@pytest.mark.django_db
def test_an_invalid_number_links_to_the_whole_inbox_and_sends_nothing():
    response = Client().post(LOGIN, {"action": "send", "phone": "12345"})

    html = response.content.decode()
    assert 'href="/sandbox/sms/"' in html
    assert "?phone=" not in html
    assert not SandboxSms.objects.exists()
    assert not SmsCode.objects.exists()


@pytest.mark.django_db
def test_without_the_sandbox_the_login_page_does_not_mention_it(settings):
    settings.SANDBOX = False

    html = Client().get(LOGIN).content.decode()

    assert 'data-testid="sandbox-sms"' not in html
    assert "/sandbox/" not in html
    assert "短信收件箱" not in html


@pytest.mark.django_db
def test_the_hint_is_in_english_when_asked():
    client = Client(headers={"accept-language": "en-US,en;q=0.9"})

    html = client.get(LOGIN).content.decode()

    assert "This demo sends no real text messages." in html
    assert "Read the code in the SMS inbox" in html
