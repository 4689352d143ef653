"""WeChat mini-program login, end to end over real HTTP against the sandbox's jscode2session."""

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from heatdesk.accounts.models import ApiToken, User, WechatIdentity
from heatdesk.accounts.services import phone_hash
from heatdesk.testing import ApiClient, make_house, make_resident
from heatdesk.tests.support import latest_code, raw_value

PHONE = "13812345678"


class HttpApi:
    """Calls /api/v1/ on the live server over HTTP, as the mini-program would."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the live test server
            f"{self.base}/api/v1/{path}", data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None


@pytest.fixture
def http(live_server, settings) -> HttpApi:
    settings.WECHAT_API_BASE = f"{live_server.url}/sandbox/wechat"
    return HttpApi(live_server.url)


def wx_login_code(http: HttpApi, user_key: str) -> str:
    status, body = http.call("POST", "sandbox/wechat/login-code", {"user_key": user_key})
    assert status == 201, body
    return body["code"]


def test_wechat_login_then_phone_then_consent_then_houses(http):
    # given wx.login() in the mini-program
    code = wx_login_code(http, "alice")
    # when it logs in with the code
    status, body = http.call("POST", "auth/login/wechat", {"code": code})
    # then it gets a token for a new user without a phone
    assert status == 200, body
    assert body["user"]["phone_verified"] is False
    assert body["user"]["phone_masked"] == ""
    token = body["token"]
    identity = WechatIdentity.objects.get()
    assert identity.user.public_id == body["user"]["id"]
    assert not identity.user.has_verified_phone
    assert raw_value(WechatIdentity, "session_key", identity.pk).startswith("v1:")
    me = HttpApi(http.base, token)

    # houses need a verified phone first
    status, body = me.call("GET", "houses")
    assert (status, body["code"]) == (403, "phone_verification_required")

    # a reused wx.login() code is refused, and makes nobody
    status, body = http.call("POST", "auth/login/wechat", {"code": code})
    assert (status, body["code"]) == (400, "wechat_code_invalid")
    assert User.objects.count() == 1
    assert WechatIdentity.objects.count() == 1

    # the phone is verified with a bind_phone SMS code
    status, body = http.call("POST", "auth/sms-code", {"phone": PHONE, "purpose": "bind_phone"})
    assert status == 202, body
    status, body = me.call(
        "POST", "auth/wechat/phone", {"phone": PHONE, "code": latest_code(PHONE)}
    )
    assert status == 200, body
    assert body["token"] == token
    assert body["user"]["phone_verified"] is True
    assert body["user"]["phone_masked"] == "138****5678"
    user = User.objects.get(pk=identity.user_id)
    assert user.phone_hash == phone_hash(PHONE)
    assert user.phone == PHONE

    # then the privacy policy, then houses
    status, body = me.call("GET", "houses")
    assert (status, body["code"]) == (403, "privacy_consent_required")
    status, policy = http.call("GET", "privacy-policy")
    status, body = me.call("POST", "me/privacy-consent", {"version": policy["version"]})
    assert status == 200, body
    status, body = me.call("GET", "houses")
    assert (status, body) == (200, [])
    house = make_house(owner_name="王秀英")
    status, body = me.call(
        "POST",
        "houses/bind",
        {"account_no": house.account_no, "relation": "owner", "owner_name": "王秀英"},
    )
    assert status == 201, body
    status, body = me.call("GET", "houses")
    assert [h["id"] for h in body] == [house.public_id]

    # and the next wx.login() of the same WeChat user signs into the same account
    status, body = http.call("POST", "auth/login/wechat", {"code": wx_login_code(http, "alice")})
    assert status == 200, body
    assert body["user"]["id"] == user.public_id
    assert WechatIdentity.objects.count() == 1


def test_a_phone_that_belongs_to_a_resident_joins_the_wechat_login_to_them(http):
    # given a resident who signed up by SMS, with a house
    resident = make_resident(PHONE)
    house = make_house()
    from heatdesk.estates.models import HouseBinding

    HouseBinding.objects.create(user=resident, house=house, relation="owner")
    # and the same person logging in by WeChat for the first time
    status, body = http.call("POST", "auth/login/wechat", {"code": wx_login_code(http, "bob")})
    assert status == 200, body
    old_token = body["token"]
    interim = User.objects.get(public_id=body["user"]["id"])
    assert interim.pk != resident.pk
    # when they verify the resident's phone
    http.call("POST", "auth/sms-code", {"phone": PHONE, "purpose": "bind_phone"})
    status, body = HttpApi(http.base, old_token).call(
        "POST", "auth/wechat/phone", {"phone": PHONE, "code": latest_code(PHONE)}
    )
    # then the WeChat identity joins the resident, with a new token for them
    assert status == 200, body
    assert body["user"]["id"] == resident.public_id
    assert body["token"] != old_token
    assert WechatIdentity.objects.get().user_id == resident.pk
    # the old token stops working and the interim user is switched off
    status, error = HttpApi(http.base, old_token).call("GET", "me")
    assert (status, error["code"]) == (401, "unauthenticated")
    interim.refresh_from_db()
    assert interim.is_active is False
    assert not ApiToken.objects.filter(user=interim, revoked_at=None).exists()
    # and the new token sees the resident's houses
    status, houses = HttpApi(http.base, body["token"]).call("GET", "houses")
    assert status == 200, houses
    assert [h["id"] for h in houses] == [house.public_id]
    # the next WeChat login lands on the resident directly
    status, body = http.call("POST", "auth/login/wechat", {"code": wx_login_code(http, "bob")})
    assert body["user"]["id"] == resident.public_id


# Failures of the WeChat service: 503 wechat_unavailable, never a 500, and nothing stored.


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def bad_wechat(settings) -> Iterator[Any]:
    """A local server that misbehaves in the way the test asks."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    behaviour: dict[str, bytes | None] = {"answer": None}

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                if behaviour["answer"]:
                    conn.sendall(behaviour["answer"])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def answer(raw: bytes | None) -> None:
        behaviour["answer"] = raw

    yield answer
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
    listener.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _http(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "wechat_unavailable"
    assert set(response.json()) == {"code", "message", "fields"}
    assert not User.objects.exists()
    assert not WechatIdentity.objects.exists()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_a_closed_port_is_503_wechat_unavailable(settings):
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{_closed_port()}/sandbox/wechat"
    assert_unavailable(ApiClient().post("auth/login/wechat", {"code": "anything"}))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="connection-dropped"),
        pytest.param(b"HELLO\r\n\r\n", id="not-http"),
        pytest.param(_http("500 Internal Server Error", b"{}"), id="http-500"),
        pytest.param(_http("200 OK", b"<html>busy</html>"), id="not-json"),
        pytest.param(_http("200 OK", b"[1, 2]"), id="not-an-object"),
        pytest.param(_http("200 OK", b'{"errcode": -1, "errmsg": "busy"}'), id="errcode-busy"),
        pytest.param(_http("200 OK", b'{"session_key": "x"}'), id="no-openid"),
    ],
)
def test_a_misbehaving_wechat_service_is_503_wechat_unavailable(bad_wechat, answer):
    bad_wechat(answer)
    assert_unavailable(ApiClient().post("auth/login/wechat", {"code": "anything"}))


@pytest.mark.django_db
def test_an_invalid_code_answer_is_400_wechat_code_invalid(bad_wechat):
    bad_wechat(_http("200 OK", b'{"errcode": 40029, "errmsg": "invalid code"}'))
    response = ApiClient().post("auth/login/wechat", {"code": "anything"})
    assert response.status_code == 400
    assert response.json()["code"] == "wechat_code_invalid"
    assert not User.objects.exists()


@pytest.mark.django_db
def test_an_empty_code_is_a_validation_error():
    response = ApiClient().post("auth/login/wechat", {"code": ""})
    assert response.status_code == 422
    assert "code" in response.json()["fields"]


@pytest.mark.django_db
def test_a_login_code_does_not_verify_a_wechat_phone():
    from heatdesk.accounts.services import token_issue

    user = User.objects.create_user()
    token = token_issue(user=user, client="wechat")
    ApiClient().post("auth/sms-code", {"phone": PHONE, "purpose": "login"})
    response = ApiClient(token).post(
        "auth/wechat/phone", {"phone": PHONE, "code": latest_code(PHONE)}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "sms_code_invalid"
    user.refresh_from_db()
    assert user.phone_hash is None
    assert not user.has_verified_phone


@pytest.mark.django_db
def test_a_disabled_account_cannot_log_in_by_wechat():
    from heatdesk.accounts import services
    from heatdesk.accounts.wechat import WechatSession
    from heatdesk.core.errors import ApplicationError

    session = WechatSession(appid="wx-sandbox-appid", openid="o-disabled", session_key="sk")
    user, _ = services.wechat_login(code="c1", session=session)
    tokens = ApiToken.objects.count()
    User.objects.filter(pk=user.pk).update(is_active=False)
    # when the disabled account logs in by WeChat again
    with pytest.raises(ApplicationError) as refused:
        services.wechat_login(code="c2", session=session)
    # then it is refused like an SMS login, and no token is made
    assert refused.value.code == "account_disabled"
    assert ApiToken.objects.count() == tokens


@pytest.mark.django_db
def test_the_phone_of_a_disabled_account_is_refused_and_nothing_moves():
    from heatdesk.accounts.services import token_issue

    owner = make_resident(PHONE)
    User.objects.filter(pk=owner.pk).update(is_active=False)
    interim = User.objects.create_user()
    identity = WechatIdentity.objects.create(appid="wx", openid="o1", user=interim)
    token = token_issue(user=interim, client="wechat")
    ApiClient().post("auth/sms-code", {"phone": PHONE, "purpose": "bind_phone"})
    # when the WeChat user verifies the disabled account's phone
    response = ApiClient(token).post(
        "auth/wechat/phone", {"phone": PHONE, "code": latest_code(PHONE)}
    )
    # then it is refused, and the WeChat login keeps its user and its token
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "account_disabled"
    identity.refresh_from_db()
    assert identity.user_id == interim.pk
    interim.refresh_from_db()
    assert interim.is_active
    assert ApiClient(token).get("me").status_code == 200
    assert ApiToken.objects.filter(user=owner).count() == 0
