"""API tokens: they expire, can be revoked one by one, and only their hash is stored."""

import datetime as dt
import hashlib

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.accounts.models import ApiToken, User
from heatdesk.accounts.services import token_authenticate, token_issue
from heatdesk.testing import ApiClient, make_resident
from heatdesk.tests.support import latest_code, tables_containing

START = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(db):
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == {
        "code": "unauthenticated",
        "message": response.json()["message"],
        "fields": {},
    }


def sms_login(phone: str) -> str:
    ApiClient().post("auth/sms-code", {"phone": phone})
    response = ApiClient().post("auth/login/sms", {"phone": phone, "code": latest_code(phone)})
    assert response.status_code == 200, response.content
    assert response.json()["expires_in"] == 30 * 24 * 3600
    return response.json()["token"]


def test_a_token_works_until_it_expires(clock, settings):
    token = sms_login("13812345678")
    stored = ApiToken.objects.get()
    assert stored.expires_at == START + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    # one second before the end it still works
    clock.shift(dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS, seconds=-1))
    assert ApiClient(token).get("me").status_code == 200
    # at the end it does not
    clock.shift(dt.timedelta(seconds=1))
    assert_unauthenticated(ApiClient(token).get("me"))
    assert_unauthenticated(ApiClient(token).get("houses"))


def test_logout_revokes_that_token_only(clock):
    user = make_resident("13812345678")
    first = token_issue(user=user, client="sms")
    second = token_issue(user=user, client="wechat")
    # when the first token logs out
    response = ApiClient(first).post("auth/logout")
    # then it no longer works, and the other one still does
    assert response.status_code == 204
    assert_unauthenticated(ApiClient(first).get("me"))
    assert ApiClient(second).get("me").status_code == 200
    revoked = ApiToken.objects.get(key_hash=hashlib.sha256(first.encode()).hexdigest())
    assert revoked.revoked_at == START
    assert ApiToken.objects.filter(revoked_at=None).count() == 1
    # and a second logout with it is refused
    assert_unauthenticated(ApiClient(first).post("auth/logout"))


def test_only_the_hash_of_a_token_is_stored(clock):
    token = sms_login("13812345678")
    stored = ApiToken.objects.get()
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(stored.prefix)
    assert len(stored.prefix) < len(token) // 2
    assert tables_containing(token) == []
    assert tables_containing(token[10:30]) == []


def test_a_disabled_users_tokens_are_refused(clock):
    user = make_resident("13812345678")
    token = token_issue(user=user)
    assert ApiClient(token).get("me").status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_unauthenticated(ApiClient(token).get("me"))
    assert token_authenticate(raw=token) is None


@pytest.mark.parametrize("raw", ["", "hd_unknown", "x" * 101])
def test_unknown_tokens_authenticate_nobody(db, raw):
    assert token_authenticate(raw=raw) is None


def test_me_answers_for_the_tokens_user(clock):
    user = make_resident("13812345678")
    response = ApiClient(token_issue(user=user)).get("me")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.public_id
    assert body["phone_masked"] == "138****5678"
    assert "13812345678" not in response.content.decode()
    assert body["roles"] == ["resident"]
    assert body["phone_verified"] is True
    assert body["privacy_consent_required"] is False


def test_a_revocation_written_by_another_process_is_refused_on_the_next_request(clock):
    # given a token that has just answered a request
    user = make_resident("13812345678")
    token = token_issue(user=user)
    api = ApiClient(token)
    assert api.get("houses").status_code == 200
    # when another process revokes it (a row update, nothing this process could hear of)
    ApiToken.objects.filter(user=user).update(revoked_at=START)
    # then the very next request, even within the same second, is refused
    assert_unauthenticated(api.get("houses"))
    assert_unauthenticated(api.get("me"))
    assert token_authenticate(raw=token) is None
    assert ApiToken.objects.get().revoked_at == START


def test_a_token_is_refused_from_the_instant_it_expires(clock):
    user = make_resident("13812345678")
    token = token_issue(user=user, ttl_hours=1)
    clock.shift(dt.timedelta(hours=1) - dt.timedelta(microseconds=1))
    assert token_authenticate(raw=token) == user
    clock.shift(dt.timedelta(microseconds=1))
    assert token_authenticate(raw=token) is None
    assert_unauthenticated(ApiClient(token).get("houses"))


def test_the_authenticated_user_is_the_stored_user_field_by_field(clock, agent):
    user = make_resident("13812345678")
    for who in (user, agent):
        found = token_authenticate(raw=token_issue(user=who))
        stored = User.objects.get(pk=who.pk)
        assert found is not None
        assert not found._state.adding
        for field in User._meta.concrete_fields:
            assert getattr(found, field.attname) == getattr(stored, field.attname), field.name
    found = token_authenticate(raw=token_issue(user=user))
    assert found.phone == "13812345678"
    assert found.phone_verified_at.tzinfo is not None
    assert found.has_verified_phone
    assert agent.has_perm("estates.manage_bindings") is token_authenticate(
        raw=token_issue(user=agent)
    ).has_perm("estates.manage_bindings")


def test_the_token_check_is_one_statement_prepared_once_per_connection(clock):
    # given a resident's token (every API request checks one, so it must be the cheapest read)
    token = token_issue(user=make_resident("13812345678"))
    api = ApiClient(token)
    # when three requests come in on one connection
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            assert api.get("me").status_code == 200
    # then the check is one statement each: on PostgreSQL prepared by the connection's first
    # (an earlier test may have prepared it already), executed by name after
    checks = [
        q["sql"]
        for q in ctx.captured_queries
        if "accounts_apitoken" in q["sql"] or "hd_token_user" in q["sql"]
    ]
    if connection.vendor == "postgresql":
        assert [s.split()[0] for s in checks[1:]] == ["EXECUTE", "EXECUTE"]
        assert checks[0].split()[0] in ("PREPARE", "EXECUTE")
        assert all("EXECUTE hd_token_user(" in sql for sql in checks)
    else:
        assert [s.split()[0] for s in checks] == ["SELECT"] * 3
