"""Shared personas: a resident who owns house A, a neighbour who must not see it, staff."""

import sqlite3

import pytest
from django.db import connections

from heatdesk.accounts.roles import ROLE_ADMIN, ROLE_AGENT, ROLE_COLLECTOR, ROLE_FINANCE
from heatdesk.testing import ApiClient, make_house, make_resident, make_staff


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def house_a(db):
    return make_house(account_no="HT10000001", owner_name="王秀英", owner_phone="13911112222")


@pytest.fixture
def house_b(db):
    return make_house(account_no="HT10000002", owner_name="李强", owner_phone="13733334444")


@pytest.fixture
def resident(db):
    return make_resident("13812345678")


@pytest.fixture
def neighbour(db):
    return make_resident("13698765432")


@pytest.fixture
def resident_api(resident):
    from heatdesk.accounts.services import token_issue

    return ApiClient(token_issue(user=resident))


@pytest.fixture
def neighbour_api(neighbour):
    from heatdesk.accounts.services import token_issue

    return ApiClient(token_issue(user=neighbour))


@pytest.fixture
def anon_api(db):
    return ApiClient()


@pytest.fixture
def collector(db):
    return make_staff("collector1", ROLE_COLLECTOR)


@pytest.fixture
def agent(db):
    return make_staff("agent1", ROLE_AGENT)


@pytest.fixture
def finance(db):
    return make_staff("finance1", ROLE_FINANCE)


@pytest.fixture
def admin_user(db):
    return make_staff("admin1", ROLE_ADMIN)


@pytest.fixture
def shared_database(transactional_db, tmp_path):
    """On PostgreSQL the processes share pytest's test database. SQLite's test database is in
    memory, so it is copied into a file and the default connection pointed at it; forked
    children open their own connections to that file (WAL, IMMEDIATE transactions)."""
    default = connections["default"]
    if default.vendor != "sqlite":
        yield default.vendor
        return
    default.ensure_connection()
    path = tmp_path / "race.sqlite3"
    target = sqlite3.connect(str(path))
    default.connection.backup(target)
    target.close()
    on_file = default.__class__({**default.settings_dict, "NAME": str(path)}, alias="default")
    connections["default"] = on_file
    try:
        yield "sqlite"
    finally:
        on_file.close()
        connections["default"] = default
