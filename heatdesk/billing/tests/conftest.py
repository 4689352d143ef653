"""Billing fixtures: an open Beijing-like season (121 days) with a 25 元/㎡ residential tariff,
and a database that forked processes can share for real races."""

import sqlite3
from decimal import Decimal

import pytest
from django.db import connections

from heatdesk.billing.tests.factories import make_season, make_tariff


@pytest.fixture
def season(db):
    return make_season()


@pytest.fixture
def tariff(season):
    return make_tariff(season, area_price=Decimal("25.00"))


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
    path = tmp_path / "billing-race.sqlite3"
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
