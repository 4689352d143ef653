"""A run reads a batch's houses exactly as Django's ORM would (on SQLite without its per-row
converters, each distinct area converted once)."""

from decimal import Decimal as D

import pytest

from heatdesk.billing import run_ahead, run_plan
from heatdesk.billing.services import runs
from heatdesk.estates.models import House
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

AREAS = ["89.50", "0.07", "0", "80", "12345678.99", "0.10", "99999999.99", "33.33", "89.50"]


def test_a_batch_reads_its_houses_as_the_orm_does(season, tariff, admin_user):
    # given: areas a float does not hold exactly, whole ones, the largest, repeated ones
    for n, area in enumerate(AREAS):
        make_house(building_area=D(area), heated_area=D(AREAS[-1 - n]), meter_id=f"M{n}")
    run = runs.billing_run_start(season=season, by=admin_user, batch_size=4, background=False)
    context = runs._context(run)
    everyone = House.objects.order_by("pk")
    # when
    first = run_ahead.houses_read(after=0, context=context, lock=False)
    rest = run_ahead.houses_read(after=first[-1].id, context=context, lock=False)
    versions = run_ahead.versions_read(after=0, context=context, lock=False)
    # then
    expected = [run_plan.HouseRow._make(r) for r in everyone.values_list(*run_plan.HOUSE_COLUMNS)]
    assert first + rest == expected[:8]
    assert [house.building_area for house in first] == [D(a) for a in AREAS[:4]]
    assert [str(house.building_area) for house in first] == ["89.50", "0.07", "0.00", "80.00"]
    assert versions == list(everyone.values_list(*run_plan.VERSION_COLUMNS)[:4])
    assert versions == [run_plan.house_version(house) for house in first]
