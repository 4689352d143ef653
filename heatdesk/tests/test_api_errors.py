"""The API's one error format, the process probes and the migrations check."""

import io

import pytest
from django.core.management import call_command
from django.test import Client

from heatdesk.accounts.models import SmsCode
from heatdesk.notifications.models import OutboundSms
from heatdesk.testing import ApiClient


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    ['{"phone": "13812345678"', "not json", "{'phone': '13812345678'}", "\xff\xfe"],
    ids=["truncated", "text", "single-quotes", "not-utf8"],
)
def test_malformed_json_is_a_validation_error(raw):
    client = Client()
    response = client.post(
        "/api/v1/auth/sms-code", raw.encode("latin-1"), content_type="application/json"
    )
    body = assert_error(response, 422, "validation_error")
    assert body["fields"]
    assert not SmsCode.objects.exists()
    assert not OutboundSms.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": 13812345678}, "phone"),
        ({"phone": ["13812345678"]}, "phone"),
        ({}, "phone"),
        ({"phone": "13812345678", "purpose": "nothing"}, "purpose"),
        ({"phone": "1" * 30}, "phone"),
        ([1, 2], None),
    ],
    ids=["int", "list", "missing", "bad-choice", "too-long", "array-body"],
)
def test_wrong_types_are_a_validation_error_naming_the_field(payload, field):
    body = assert_error(ApiClient().post("auth/sms-code", payload), 422, "validation_error")
    assert body["fields"]
    assert field is None or field in body["fields"], body
    assert all(isinstance(m, str) for messages in body["fields"].values() for m in messages)
    assert not SmsCode.objects.exists()


@pytest.mark.django_db
def test_wrong_types_on_a_private_endpoint(resident_api):
    body = assert_error(
        resident_api.post("houses/bind", {"account_no": 1, "relation": "owner"}),
        422,
        "validation_error",
    )
    assert "account_no" in body["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/nope/", "/api/v1/houses/hs_1/nope", "/api/v1/auth", "/api/v2/me"],
)
def test_unknown_routes_under_the_api_are_404_in_the_error_format(path, resident_api):
    assert_error(ApiClient().get(path), 404, "not_found")
    assert_error(resident_api.get(path), 404, "not_found")
    assert_error(ApiClient().post(path, {}), 404, "not_found")


@pytest.mark.django_db
def test_an_unexpected_error_is_a_500_in_the_error_format(monkeypatch):
    from heatdesk.accounts import services

    def boom(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "sms_code_request", boom)
    response = ApiClient().post("auth/sms-code", {"phone": "13812345678"})
    body = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert body["fields"] == {}


def test_healthz():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_checks_the_database():
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_readyz_says_unavailable_when_the_database_is_not_reachable(monkeypatch):
    from django.db import connection

    def broken():
        raise connection.Database.OperationalError("down")

    monkeypatch.setattr(connection, "cursor", broken)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.django_db
def test_migrations_are_complete():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:  # --check exits 1 when a model has no migration
        pytest.fail(f"makemigrations --check exited {exit_.code}:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_a_wrong_method_is_405_in_the_error_format_and_changes_nothing(resident_api):
    # given: sms-code only takes POST
    # when
    response = resident_api.request("PUT", "auth/sms-code", {"phone": "13512340000"})
    # then
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "code": "method_not_allowed",
        "message": "不支持该请求方法。",
        "fields": {},
    }
    assert "POST" in response["Allow"]
    assert SmsCode.objects.count() == 0
    assert OutboundSms.objects.count() == 0
