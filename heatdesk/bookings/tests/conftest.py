"""Bookings personas: a resident with house A bound, a team serving A's community, a counter
window, a visit service and a counter service, all at a fixed moment (Monday 08:00 Shanghai)."""

import datetime as dt

import pytest
import time_machine

from heatdesk.bookings.tests.factories import (
    bind,
    community_of,
    make_counter_service,
    make_team,
    make_visit_service,
    make_window,
)
from heatdesk.core.clock import SHANGHAI

# Monday 30 November 2026, 08:00 in Shanghai; the next days are a normal working week.
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)
TUESDAY = "2026-12-01"
WEDNESDAY = "2026-12-02"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def home(resident, house_a):
    bind(resident, house_a)
    return house_a


@pytest.fixture
def team(house_a):
    return make_team(community_of(house_a), code="team-east", name="东区维修一班")


@pytest.fixture
def repair(team):
    return make_visit_service(team, code="repair", name="上门维修")


@pytest.fixture
def window(db):
    return make_window(capacity=3, code="window-1", name="1号窗口")


@pytest.fixture
def counter(window):
    return make_counter_service(window, code="counter", name="营业厅业务办理", capacity_per_slot=2)
