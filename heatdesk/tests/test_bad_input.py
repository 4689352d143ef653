"""Bad input on any API operation gets a clear 4xx in the error format and changes nothing.

Every operation in the OpenAPI schema is called by a caller allowed to use it (the resident for
resident operations, a superuser for staff ones) against a small world with a bound house, an
issued bill, a booking and an open counter shift, so that requests get past authentication and
object lookup to validation and the services. Each gets malformed bodies, each body field
replaced by a value of the wrong type, out of range or far too long, and junk in every path and
query parameter. No answer may be a 5xx, and a refused request must have written nothing.
"""

import datetime as dt
import re
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.db import connection

from heatdesk.accounts.models import User
from heatdesk.accounts.services import token_issue
from heatdesk.billing import services as billing
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.bookings.tests.factories import bind, community_of, make_team, make_visit_service
from heatdesk.config.api import api
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.models import RateCounter
from heatdesk.payments.services.counter_shifts import shift_open
from heatdesk.testing import ApiClient

# After the season's bills are issued and before any late fee.
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
STAFF_PREFIXES = ("/api/v1/staff/", "/api/v1/billing/", "/api/v1/payments/")
RESIDENT_UNDER_PAYMENTS = ("/api/v1/payments/orders", "/api/v1/payments/records")
SKIPPED_PREFIX = "/api/v1/sandbox/"  # sandbox only, tested with the simulators

JUNK_IDS = ("0", "-1", "9" * 40, "x' OR '1'='1", "%E4%BD%A0%E5%A5%BD", "hs_" + "z" * 200, "a%00b")
JUNK_QUERY = ("", "-1", "9" * 40, "2026-13-45", "<script>", "%00", "真")
# A field replaced by each of these is the wrong type, out of range, empty or far too long
# for every field type the schema has.
JUNK_VALUES: tuple[Any, ...] = (
    None,
    "",
    "x" * 5000,
    -1,
    10**30,
    -(10**30),
    1.5e308,
    True,
    [],
    {"nested": {"deep": [1, 2, {}]}},
    "2026-02-30",
    "12:99",
    "１２３",
    "nul\x00inside",
)
# 503 codes that mean "try again later", each documented on its operations.
UNAVAILABLE = {"wechat_unavailable", "busy_try_again"}
MALFORMED_BODIES = ("", "{", "[]", "null", '"text"', "1", '{"a":' * 50, "\x00\xff")


@cache
def _schema() -> dict[str, Any]:
    return api.get_openapi_schema()


def _operations() -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, ops in _schema()["paths"].items()
        for method in ops
        if not path.startswith(SKIPPED_PREFIX)
    )


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = _schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in node:
        return _resolve(next(n for n in node["anyOf"] if n.get("type") != "null"))
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(node["allOf"][0])
    return node


def _example(node: dict[str, Any]) -> Any:
    """A plausible value for a schema node: where the bad values are substituted one by one."""
    node = _resolve(node)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {name: _example(sub) for name, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_example(node["items"])] if "items" in node else []
    if kind == "integer":
        return max(1, node.get("minimum", 1))
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    return {"date": "2026-12-01", "date-time": "2026-12-01T10:00:00+08:00", "time": "10:00"}.get(
        node.get("format", ""), "x"
    )


def _body_schema(method: str, path: str) -> dict[str, Any] | None:
    op = _schema()["paths"][path][method.lower()]
    content = op.get("requestBody", {}).get("content", {})
    found = content.get("application/json", {}).get("schema")
    return _resolve(found) if found else None


def _query_names(method: str, path: str) -> list[str]:
    op = _schema()["paths"][path][method.lower()]
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]


def _changes() -> int:
    """Rows written so far by this connection's transaction (inserted, updated or deleted)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) "
                "FROM pg_stat_xact_user_tables"
            )
        else:
            cursor.execute("SELECT total_changes()")
        return int(cursor.fetchone()[0])


@pytest.fixture
def world(db, resident, house_a, collector):
    """Real ids for every path parameter that names something the world holds."""
    with time_machine.travel(NOW, tick=False):
        superuser = User.objects.create_superuser("root1", "correct-horse-battery")
        season = make_season()
        tariff = make_tariff(season, area_price=Decimal("25.00"))
        bill = billing.bill_issue(house=house_a, season=season, issued_by=superuser)
        bind(resident, house_a)
        team = make_team(community_of(house_a), code="team-east", name="东区维修一班")
        service = make_visit_service(team, code="repair", name="上门维修")
        shift = shift_open(collector=superuser, opening_float_fen=50000)
        ids = {
            "house_id": house_a.public_id,
            "bill_id": bill.public_id,
            "code": service.code,
            "tariff_id": str(tariff.pk),
            "shift_id": shift.public_id,
            "year": "2026",
        }
    return {
        "ids": ids,
        "resident": ApiClient(token_issue(user=resident)),
        "staff": ApiClient(token_issue(user=superuser)),
        "code_of_season": season.code,
    }


def _caller(world: dict[str, Any], path: str) -> ApiClient:
    staff = path.startswith(STAFF_PREFIXES) and not path.startswith(RESIDENT_UNDER_PAYMENTS)
    return world["staff"] if staff else world["resident"]


def _url(path: str, ids: dict[str, str], junk: str | None = None) -> str:
    def fill(match: re.Match[str]) -> str:
        return junk if junk is not None else ids.get(match.group(1), "hs_0000000000000000")

    return re.sub(r"\{([^}]+)\}", fill, path)


def _send(client: ApiClient, method: str, url: str, raw: str | None) -> Any:
    return client.client.generic(
        method, url, raw or "", content_type="application/json", headers=client._headers()
    )


def _snapshot() -> dict[str, list[str]]:
    """Every row of every table but the failure counters, which a refused attempt must bump
    (wrong SMS codes, failed bindings): that is how guessing is held back."""
    return {
        model._meta.db_table: sorted(repr(row) for row in model._base_manager.values_list())
        for model in apps.get_models()
        if model is not RateCounter
    }


def _send_now(client: ApiClient, method: str, url: str, raw: str | None) -> Any:
    with time_machine.travel(NOW, tick=False):
        return _send(client, method, url, raw)


def _check(client: ApiClient, method: str, url: str, raw: str | None, seen: list[str]) -> None:
    before = _changes()
    response = _send_now(client, method, url, raw)
    what = f"{method} {url} {raw[:200] if raw else ''}"
    status = response.status_code
    if status == 503:
        # an outside service (WeChat) or a lock wait: a clear "try again", not a failure
        assert response.json()["code"] in UNAVAILABLE, f"{what} → 503: {response.content[:500]}"
    else:
        assert status < 500, f"{what} → {status}: {response.content[:500]}"
    if 400 <= status < 600:
        if response.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            assert set(body) == {"code", "message", "fields"}, f"{what} → {body}"
            assert body["message"], what
        if _changes() != before:
            # Rows were written, or written and rolled back (the counters cannot tell): send it
            # again between two snapshots of every table.
            rows_before = _snapshot()
            again = _send_now(client, method, url, raw)
            assert again.status_code == status, what
            assert _snapshot() == rows_before, f"{what} → {status} but changed rows"
    seen.append(f"{status}")


def _jsonify(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda x: x)
def test_bad_input_is_refused_with_4xx_and_changes_nothing(world, method, path):
    client = _caller(world, path)
    ids = dict(world["ids"])
    if path.startswith("/api/v1/billing/seasons/{code}"):
        ids["code"] = world["code_of_season"]
    url = _url(path, ids)
    seen: list[str] = []
    # the plain call, with an empty body where one is taken
    _check(client, method, url, None if method in ("GET", "DELETE") else "{}", seen)
    # junk in every path parameter
    if "{" in path:
        for junk in JUNK_IDS:
            _check(client, method, _url(path, ids, junk), _jsonify({}), seen)
    # junk in every query parameter, one at a time
    for name in _query_names(method, path):
        for junk in JUNK_QUERY:
            _check(client, method, f"{url}?{name}={junk}", None, seen)
    body = _body_schema(method, path)
    if body is not None:
        for raw in MALFORMED_BODIES:
            _check(client, method, url, raw, seen)
        example = _example(body)
        for name in example if isinstance(example, dict) else ():
            for junk in JUNK_VALUES:
                _check(client, method, url, _jsonify({**example, name: junk}), seen)
            _check(
                client, method, url, _jsonify({k: v for k, v in example.items() if k != name}), seen
            )
    assert seen, "nothing was sent"
