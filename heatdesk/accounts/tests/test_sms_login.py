import re

import pytest

from heatdesk.accounts.models import ApiToken, User
from heatdesk.sandbox.models import SandboxSms
from heatdesk.testing import ApiClient

PHONE = "13512340000"


def _latest_code(phone: str) -> str:
    text = SandboxSms.objects.filter(phone=phone).first().text
    return re.search(r"(\d{6})", text).group(1)


@pytest.mark.django_db
def test_login_by_sms_code_creates_the_resident_and_a_token():
    api = ApiClient()
    # when
    sent = api.post("auth/sms-code", {"phone": PHONE})
    code = _latest_code(PHONE)
    login = api.post("auth/login/sms", {"phone": PHONE, "code": code})
    # then
    assert sent.status_code == 202, sent.content
    assert login.status_code == 200, login.content
    body = login.json()
    assert body["user"]["phone_masked"] == "135****0000"
    assert body["user"]["privacy_consent_required"] is True
    assert User.objects.count() == 1
    assert ApiToken.objects.filter(user__public_id=body["user"]["id"]).count() == 1
    me = ApiClient(body["token"]).get("me")
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    # the code is single-use
    again = api.post("auth/login/sms", {"phone": PHONE, "code": code})
    assert again.status_code == 400
    assert again.json()["code"] == "sms_code_invalid"
    assert ApiToken.objects.count() == 1
