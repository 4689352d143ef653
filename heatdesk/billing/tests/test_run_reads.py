"""A run reads a batch's houses exactly as Django's ORM would (on SQLite without its per-row
converters, each distinct area converted once), and finishes once it finds none left without
looking at prices again."""

from decimal import Decimal as D

import pytest

from heatdesk.billing import run_ahead, run_plan, services
from heatdesk.billing.models import Bill
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
    batch = {"last": run.last_house_id, "size": 4, "lock": False}
    everyone = House.objects.order_by("pk")
    # when
    first = run_ahead.houses_read(after=0, **batch)
    rest = run_ahead.houses_read(after=first[-1].id, **batch)
    versions = run_ahead.versions_read(after=0, **batch)
    # then
    expected = [run_plan.HouseRow._make(r) for r in everyone.values_list(*run_plan.HOUSE_COLUMNS)]
    assert first + rest == expected[:8]
    assert [house.building_area for house in first] == [D(a) for a in AREAS[:4]]
    assert [str(house.building_area) for house in first] == ["89.50", "0.07", "0.00", "80.00"]
    assert versions == list(everyone.values_list(*run_plan.VERSION_COLUMNS)[:4])
    assert versions == [run_plan.house_version(house) for house in first]


def test_a_run_whose_houses_are_all_written_finishes_whatever_prices_came_since(
    season, tariff, admin_user
):
    # given: every house written, then a new price version
    for area in ("80.00", "90.00"):
        make_house(building_area=D(area))
    run = runs.billing_run_start(season=season, by=admin_user, batch_size=2, background=False)
    runs.billing_run_process(run_id=run.pk)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    assert runs.billing_run_step(run_id=run.pk)
    services.tariff_new_version(tariff=tariff, by=admin_user, area_price=D("26.00"))
    # when: the step that finds no house left
    more = runs.billing_run_step(run_id=run.pk)
    # then: the run is done, with the bills of the prices it previewed
    run.refresh_from_db()
    assert (more, run.status, run.processed, run.error) == (False, "committed", 2, "")
    assert sorted(Bill.objects.filter(run=run).values_list("total_fen", flat=True)) == [
        200000,
        225000,
    ]
