"""Every API operation needs a token, except the few that are public on purpose."""

import re
from functools import cache

import pytest

from heatdesk.config.api import api
from heatdesk.testing import ApiClient

# The only operations a caller may use without a token. A new endpoint that forgets auth shows
# up here as an unexpected public operation and fails the test.
PUBLIC = {
    ("POST", "/api/v1/auth/sms-code"),
    ("POST", "/api/v1/auth/login/sms"),
    ("POST", "/api/v1/auth/login/wechat"),
    ("GET", "/api/v1/privacy-policy"),
}
PUBLIC_PREFIX = "/api/v1/sandbox/"
# Booking self-service links sent by SMS: the signed token in the path is the credential
# (heatdesk.bookings.links), so these take no bearer token. Listed one by one like the above.
LINK_PUBLIC = {
    ("GET", "/api/v1/bookings/link/{token}"),
    ("GET", "/api/v1/bookings/link/{token}/availability"),
    ("GET", "/api/v1/bookings/link/{token}/ics"),
    ("POST", "/api/v1/bookings/link/{token}/cancel"),
    ("POST", "/api/v1/bookings/link/{token}/reschedule"),
}


@cache
def _schema() -> dict:
    return api.get_openapi_schema()


def _operations() -> list[tuple[str, str]]:
    schema = _schema()
    return sorted((method.upper(), path) for path, ops in schema["paths"].items() for method in ops)


def _is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC | LINK_PUBLIC or path.startswith(PUBLIC_PREFIX)


def _call(client: ApiClient, method: str, path: str, headers: dict[str, str] | None = None):
    url = re.sub(r"\{[^}]+\}", "hs_0000000000000000", path)
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, url, body, headers=headers or {})


def test_the_schema_lists_every_operation():
    in_schema = len(_operations())
    routed = sum(
        len(path_view.operations)
        for _, router in api._routers
        for path_view in router.path_operations.values()
    )
    assert in_schema == routed
    assert in_schema >= 15


def test_public_operations_are_exactly_the_declared_ones():
    schema = _schema()
    declared_public = {
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if not op.get("security")
    }
    outside_sandbox = {op for op in declared_public if not op[1].startswith(PUBLIC_PREFIX)}
    assert outside_sandbox - LINK_PUBLIC == PUBLIC, "an operation without auth: add auth=bearer"
    assert {op for op in _operations() if op[1].startswith(PUBLIC_PREFIX)} <= declared_public


@pytest.mark.django_db
def test_public_operations_answer_without_a_token():
    # and behave as public: no 401 without a token (the schema could say one thing, auth another)
    answered = {op: _call(ApiClient(), *op).status_code for op in _operations()}
    public_by_behaviour = {op for op, status in answered.items() if status != 401}
    assert public_by_behaviour == {op for op in _operations() if _is_public(*op)}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer hd_" + "x" * 43},
        {"Authorization": "Bearer " + "x" * 500},
        {"Authorization": "Token hd_abc"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "garbage", "token-shaped", "oversized", "wrong-scheme", "empty"],
)
@pytest.mark.parametrize(
    ("method", "path"), [op for op in _operations() if not _is_public(*op)], ids=str
)
def test_every_private_operation_refuses_calls_without_a_valid_token(method, path, headers):
    response = _call(ApiClient(), method, path, headers)
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["code"] == "unauthenticated"
    assert body["message"]
    assert body["fields"] == {}
