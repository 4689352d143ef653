"""Billing fixtures: an open Beijing-like season (121 days) with a 25 元/㎡ residential tariff."""

from decimal import Decimal

import pytest

from heatdesk.billing.tests.factories import make_season, make_tariff


@pytest.fixture
def season(db):
    return make_season()


@pytest.fixture
def tariff(season):
    return make_tariff(season, area_price=Decimal("25.00"))
