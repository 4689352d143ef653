"""Issuing bills: once per house per season, with what each kind of house is charged."""

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.db import IntegrityError, transaction

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.models import Bill, BillLine, Tariff
from heatdesk.billing.tests.factories import dates_of, lines_of, make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

ISSUE_MOMENT = dt.datetime(2026, 9, 1, 9, 30, tzinfo=SHANGHAI)


# --- Issuing -------------------------------------------------------------------------------------


def test_issue_snapshots_the_house_and_tariff_and_is_audited(season, tariff, house_a, finance):
    # when
    with time_machine.travel(ISSUE_MOMENT, tick=False):
        bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # then: 89.50㎡ × 25.00 = 2,237.50 元
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.issued_by, row.issued_at) == (
        "issued",
        223750,
        finance,
        ISSUE_MOMENT,
    )
    assert row.public_id.startswith("bl_")
    assert (row.area, row.area_basis, row.area_price, row.pricing) == (
        D("89.50"),
        "building",
        D("25.0000"),
        "area",
    )
    assert (row.usage_type, row.user_type, row.heating_status) == (
        "residential",
        "normal",
        "heating",
    )
    assert (row.tariff_id, row.tariff_version) == (tariff.pk, 1)
    (line,) = BillLine.objects.filter(bill=bill)
    assert (line.kind, line.amount_fen, line.explanation) == (
        "area_fee",
        223750,
        "建筑面积 89.50㎡ × 25.00元/㎡",
    )
    assert (line.created_by, line.period_from, line.period_to) == (
        finance,
        dt.date(2026, 11, 15),
        dt.date(2027, 3, 15),
    )
    assert Tariff.objects.get(pk=tariff.pk).in_use_since == ISSUE_MOMENT
    entry = AuditEntry.objects.get(action="billing.bill_issue")
    assert (entry.actor, entry.object_id) == (finance, str(bill.pk))
    assert entry.after == {
        "status": "issued",
        "total_fen": 223750,
        "tariff_id": tariff.pk,
        "tariff_version": 1,
    }


def test_issuing_twice_returns_the_first_bill(season, tariff, house_a, finance, collector):
    first = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    again = services.bill_issue(house=house_a, season=season, issued_by=collector)
    # then
    assert again.pk == first.pk
    assert Bill.objects.filter(house=house_a, season=season).count() == 1
    assert lines_of(first) == [("area_fee", 223750)]
    assert Bill.objects.get(pk=first.pk).issued_by == finance
    assert AuditEntry.objects.filter(action="billing.bill_issue").count() == 1


def test_a_lost_race_returns_the_winners_bill(season, tariff, house_a, finance, monkeypatch):
    # given: another request issued the bill after our first look found none
    winner = services.bill_issue(house=house_a, season=season, issued_by=finance)
    real_lookup = selectors.bill_live_for
    looks = []

    def stale_then_real(**kwargs):
        looks.append(kwargs)
        return None if len(looks) == 1 else real_lookup(**kwargs)

    monkeypatch.setattr("heatdesk.billing.services.bills.bill_live_for", stale_then_real)
    # when
    answer = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # then: the unique constraint refused our insert and the winner's bill is the answer
    assert len(looks) == 2
    assert answer.pk == winner.pk
    assert Bill.objects.count() == 1
    assert BillLine.objects.count() == 1
    assert Bill.objects.get(pk=winner.pk).total_fen == 223750
    assert AuditEntry.objects.filter(action="billing.bill_issue").count() == 1


def test_the_database_allows_one_live_bill_per_house_and_season(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    duplicate = {
        field: getattr(bill, field)
        for field in ("house", "season", "tariff", "area", "area_basis", "area_price", "pricing")
    }
    snapshot = {
        "usage_type": "residential",
        "user_type": "normal",
        "heating_status": "heating",
        "tariff_version": 1,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.create(**duplicate, **snapshot)
    assert Bill.objects.count() == 1


def test_the_database_refuses_a_second_bill_with_the_same_public_id(
    season, tariff, house_a, house_b, finance
):
    # given: a bill, and another house's bill for another season with the first one's id
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    other_season = make_season(**dates_of(2027))
    copy = {
        field: getattr(bill, field)
        for field in ("tariff", "area", "area_basis", "area_price", "pricing", "public_id")
    }
    snapshot = {
        "usage_type": "residential",
        "user_type": "normal",
        "heating_status": "heating",
        "tariff_version": 1,
    }
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.create(house=house_b, season=other_season, **copy, **snapshot)
    assert list(Bill.objects.values_list("public_id", flat=True)) == [bill.public_id]


def test_bill_calculate_writes_nothing(season, tariff, house_a):
    lines = services.bill_calculate(house=house_a, season=season)
    assert [(line.kind, line.amount_fen) for line in lines] == [("area_fee", 223750)]
    assert Bill.objects.count() == 0
    assert Tariff.objects.get(pk=tariff.pk).in_use_since is None
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize("status", ["draft", "closed"])
def test_no_bill_outside_an_open_season(status, house_a, finance):
    season = make_season(status=status)
    tariff = make_tariff(season)
    with pytest.raises(Conflict) as refused:
        services.bill_issue(house=house_a, season=season, issued_by=finance)
    assert refused.value.code == "season_not_open"
    assert Bill.objects.count() == 0
    assert BillLine.objects.count() == 0
    assert Tariff.objects.get(pk=tariff.pk).in_use_since is None
    assert AuditEntry.objects.count() == 0


def test_no_bill_without_a_tariff_for_the_user_type(season, house_a, finance):
    make_tariff(season, usage_type="non_residential", area_price=D("45.00"))
    with pytest.raises(NotFound) as refused:
        services.bill_issue(house=house_a, season=season, issued_by=finance)
    assert refused.value.code == "tariff_missing"
    assert "居民/普通用户" in refused.value.message
    assert Bill.objects.count() == 0


def test_no_bill_for_a_disconnected_house(season, tariff, finance):
    house = make_house(heating_status="disconnected")
    with pytest.raises(ApplicationError) as refused:
        services.bill_issue(house=house, season=season, issued_by=finance)
    assert refused.value.code == "house_disconnected"
    assert Bill.objects.count() == 0
    assert Tariff.objects.get(pk=tariff.pk).in_use_since is None


def test_supply_dates_outside_the_season_are_refused(season, tariff, house_a, finance):
    with pytest.raises(ValidationFailed) as refused:
        services.bill_issue(
            house=house_a, season=season, issued_by=finance, supply_from=dt.date(2026, 10, 1)
        )
    assert refused.value.code == "bill_period_invalid"
    assert Bill.objects.count() == 0


# --- What the bill says for each kind of house ------------------------------------------------


def test_a_low_income_house_gets_its_relief_line(season, finance):
    # Taiyuan-style: 89.50 × 24.00 = 214,800 分; 85% relief = −182,580; the family pays 32,220.
    make_tariff(season, area_price=D("24.00"))
    make_tariff(
        season,
        user_type="low_income",
        area_price=D("24.00"),
        relief_ratio=D("0.85"),
        relief_funding_source="市民政局低保供热补贴",
    )
    house = make_house(user_type="low_income")
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert lines_of(bill) == [("area_fee", 214800), ("relief_subsidy", -182580)]
    row = Bill.objects.get(pk=bill.pk)
    assert (row.total_fen, row.user_type) == (32220, "low_income")
    relief = BillLine.objects.get(bill=bill, kind="relief_subsidy")
    assert relief.explanation == "低保减免：热费 2,148.00元 × 85%，由市民政局低保供热补贴承担"


def test_a_stopped_house_pays_the_stop_fee_all_season(season, tariff, finance):
    # 89.50 × 25.00 × 30% = 671.25 元
    house = make_house(heating_status="stopped")
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert lines_of(bill) == [("stop_basic_fee", 67125)]
    assert Bill.objects.get(pk=bill.pk).heating_status == "stopped"


def test_a_stop_from_a_date_splits_the_season(season, tariff, house_a, finance):
    # 47 heated days → 86,911; 74 stopped days at 30% → 41,052 (worked in the calculator table)
    bill = services.bill_issue(
        house=house_a, season=season, issued_by=finance, stopped_from=dt.date(2027, 1, 1)
    )
    assert lines_of(bill) == [("area_fee", 86911), ("stop_basic_fee", 41052)]
    assert Bill.objects.get(pk=bill.pk).total_fen == 127963


def test_a_non_residential_house_uses_its_tariff_and_surcharge(season, tariff, finance):
    # Changchun: 120.35 × 31 = 373,085; +10% = 37,309 (37,308.5 rounded up); total 410,394.
    make_tariff(
        season, usage_type="non_residential", area_price=D("31.00"), surcharge_ratio=D("0.10")
    )
    house = make_house(usage_type="non_residential", building_area=D("120.35"))
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert lines_of(bill) == [("area_fee", 373085), ("surcharge", 37309)]
    assert Bill.objects.get(pk=bill.pk).total_fen == 410394


def test_a_heated_area_tariff_charges_the_heated_area(season, house_a, finance):
    # 85.00 × 25.00 = 2,125.00 元
    make_tariff(season, area_basis="heated")
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    row = Bill.objects.get(pk=bill.pk)
    assert (row.area, row.area_basis, row.total_fen) == (D("85.00"), "heated", 212500)
    assert BillLine.objects.get(bill=bill).explanation == "供热面积 85.00㎡ × 25.00元/㎡"


def test_a_mid_season_connection_pays_per_day(season, tariff, house_a, finance):
    # 60 of 121 days: 110,950 分 (worked in the calculator table)
    bill = services.bill_issue(
        house=house_a, season=season, issued_by=finance, supply_from=dt.date(2027, 1, 15)
    )
    assert lines_of(bill) == [("area_fee", 110950)]


def test_a_two_part_house_is_billed_the_area_fee_in_advance(season, finance):
    make_tariff(
        season,
        pricing="two_part",
        area_price=D("24.00"),
        basic_ratio=D("0.50"),
        metered_price=D("0.16"),
        metered_unit="kWh",
    )
    house = make_house()
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert lines_of(bill) == [("area_fee", 214800)]
    assert Bill.objects.get(pk=bill.pk).pricing == "two_part"
