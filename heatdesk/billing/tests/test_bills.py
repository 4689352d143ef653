import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.db import IntegrityError, transaction

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.calculation import Payment
from heatdesk.billing.models import Bill, BillLine, Tariff
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

ISSUE_MOMENT = dt.datetime(2026, 9, 1, 9, 30, tzinfo=SHANGHAI)


@pytest.fixture
def season():
    return make_season()


@pytest.fixture
def tariff(season):
    return make_tariff(season, area_price=D("25.00"))


def _lines(bill):
    return list(BillLine.objects.filter(bill=bill).order_by("id").values_list("kind", "amount_fen"))


def _bill_state(bill):
    row = Bill.objects.get(pk=bill.pk)
    return (row.status, row.total_fen, row.area, row.voided_at, _lines(bill))


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
    assert _lines(first) == [("area_fee", 223750)]
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
    assert _lines(bill) == [("area_fee", 214800), ("relief_subsidy", -182580)]
    row = Bill.objects.get(pk=bill.pk)
    assert (row.total_fen, row.user_type) == (32220, "low_income")
    relief = BillLine.objects.get(bill=bill, kind="relief_subsidy")
    assert relief.explanation == "低保减免：热费 2,148.00元 × 85%，由市民政局低保供热补贴承担"


def test_a_stopped_house_pays_the_stop_fee_all_season(season, tariff, finance):
    # 89.50 × 25.00 × 30% = 671.25 元
    house = make_house(heating_status="stopped")
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert _lines(bill) == [("stop_basic_fee", 67125)]
    assert Bill.objects.get(pk=bill.pk).heating_status == "stopped"


def test_a_stop_from_a_date_splits_the_season(season, tariff, house_a, finance):
    # 47 heated days → 86,911; 74 stopped days at 30% → 41,052 (worked in the calculator table)
    bill = services.bill_issue(
        house=house_a, season=season, issued_by=finance, stopped_from=dt.date(2027, 1, 1)
    )
    assert _lines(bill) == [("area_fee", 86911), ("stop_basic_fee", 41052)]
    assert Bill.objects.get(pk=bill.pk).total_fen == 127963


def test_a_non_residential_house_uses_its_tariff_and_surcharge(season, tariff, finance):
    # Changchun: 120.35 × 31 = 373,085; +10% = 37,309 (37,308.5 rounded up); total 410,394.
    make_tariff(
        season, usage_type="non_residential", area_price=D("31.00"), surcharge_ratio=D("0.10")
    )
    house = make_house(usage_type="non_residential", building_area=D("120.35"))
    bill = services.bill_issue(house=house, season=season, issued_by=finance)
    assert _lines(bill) == [("area_fee", 373085), ("surcharge", 37309)]
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
    assert _lines(bill) == [("area_fee", 110950)]


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
    assert _lines(bill) == [("area_fee", 214800)]
    assert Bill.objects.get(pk=bill.pk).pricing == "two_part"


# --- Issued bills are documents ---------------------------------------------------------------


def test_an_issued_bill_refuses_edits(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    before = _bill_state(bill)
    line = BillLine.objects.get(bill=bill)
    # when / then: neither the bill nor its lines can be rewritten or removed
    bill.area = D("50.00")
    with pytest.raises(RuntimeError):
        bill.save()
    line.amount_fen = 1
    with pytest.raises(RuntimeError):
        line.save()
    with pytest.raises(RuntimeError):
        line.delete()
    with pytest.raises(RuntimeError):
        bill.delete()
    assert _bill_state(bill) == before


def test_an_adjustment_is_a_new_line_with_an_audit_row(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    line = services.bill_adjust(
        bill=bill, amount_fen=-5000, reason="实测建筑面积 87.50㎡，核减 2.00㎡", by=finance
    )
    # then
    assert _lines(bill) == [("area_fee", 223750), ("adjustment", -5000)]
    row = BillLine.objects.get(pk=line.pk)
    assert (row.explanation, row.reason, row.created_by) == (
        "费用调整 -50.00元：实测建筑面积 87.50㎡，核减 2.00㎡",
        "实测建筑面积 87.50㎡，核减 2.00㎡",
        finance,
    )
    assert Bill.objects.get(pk=bill.pk).total_fen == 218750
    assert bill.total_fen == 218750  # the caller's copy is refreshed
    entry = AuditEntry.objects.get(action="billing.bill_adjust")
    assert (entry.actor, entry.object_id, entry.reason) == (
        finance,
        str(bill.pk),
        "实测建筑面积 87.50㎡，核减 2.00㎡",
    )
    assert entry.before == {"total_fen": 223750}
    assert entry.after == {"total_fen": 218750, "line_id": line.pk}


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        (0, "无", "amount_fen"),
        (12.5, "小数", "amount_fen"),
        (True, "布尔", "amount_fen"),
        (D("100"), "Decimal", "amount_fen"),
        (100_000_001, "过大", "amount_fen"),
        (500, "  ", "reason"),
        (500, "长" * 201, "reason"),
    ],
)
def test_bad_adjustments_are_refused_and_change_nothing(
    season, tariff, house_a, finance, amount, reason, field
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    before = _bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        services.bill_adjust(bill=bill, amount_fen=amount, reason=reason, by=finance)
    assert field in refused.value.fields
    assert _bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


@pytest.mark.parametrize("status", ["paid", "void"])
def test_a_paid_or_void_bill_takes_no_adjustment(season, tariff, house_a, finance, status):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    Bill.objects.filter(pk=bill.pk).update(status=status, voided_at=bill.issued_at)
    before = _bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        services.bill_adjust(bill=bill, amount_fen=1000, reason="测试", by=finance)
    assert refused.value.code == "bill_not_adjustable"
    assert _bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


def test_void_then_reissue(season, tariff, house_a, finance):
    first = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    services.bill_void(bill=first, reason="户号录入错误", by=finance)
    second = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # then
    voided = Bill.objects.get(pk=first.pk)
    assert (voided.status, voided.void_reason, voided.voided_by) == (
        "void",
        "户号录入错误",
        finance,
    )
    assert voided.voided_at is not None
    assert second.pk != first.pk
    assert Bill.objects.get(pk=second.pk).status == "issued"
    assert [b.pk for b in selectors.bills_for_house(house=house_a)] == [second.pk, first.pk]
    entry = AuditEntry.objects.get(action="billing.bill_void")
    assert (entry.before, entry.after, entry.reason) == (
        {"status": "issued"},
        {"status": "void"},
        "户号录入错误",
    )


@pytest.mark.parametrize("status", ["partially_paid", "paid", "void"])
def test_a_bill_with_payments_or_already_void_cannot_be_voided(
    season, tariff, house_a, finance, status
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    Bill.objects.filter(pk=bill.pk).update(status=status, voided_at=bill.issued_at)
    before = _bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        services.bill_void(bill=bill, reason="测试", by=finance)
    assert refused.value.code == "bill_transition_invalid"
    assert _bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


def test_void_needs_a_reason(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    with pytest.raises(ValidationFailed):
        services.bill_void(bill=bill, reason=" ", by=finance)
    assert Bill.objects.get(pk=bill.pk).status == "issued"


# --- Derived amounts: late fee and early discount -------------------------------------------------


def test_the_late_fee_is_derived_as_of_a_date_and_never_stored(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    services.bill_adjust(bill=bill, amount_fen=-5000, reason="面积核减", by=finance)
    before = _bill_state(bill)
    # when: principal 223,750 − 5,000 = 218,750; 10 days × 2‰ = 4,375 分
    ten_days = selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2027, 1, 10))
    on_time = selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2026, 12, 31))
    part_paid = selectors.bill_late_fee_as_of(
        bill=bill,
        as_of=dt.date(2027, 1, 10),
        payments=[Payment(paid_on=dt.date(2026, 12, 1), amount_fen=118750)],
    )
    cut_off = selectors.bill_late_fee_as_of(
        bill=bill, as_of=dt.date(2027, 6, 1), heat_cut_off_on=dt.date(2027, 1, 6)
    )
    # then
    assert (ten_days.kind, ten_days.amount_fen) == ("late_fee", 4375)
    assert on_time is None
    assert part_paid.amount_fen == 2000  # 100,000 unpaid × 2‰ × 10
    assert cut_off.amount_fen == 2188  # 218,750 × 2‰ × 5 = 2,187.5 → 2,188
    assert _bill_state(bill) == before


def test_a_void_bill_accrues_no_late_fee_and_gets_no_discount(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    services.bill_void(bill=bill, reason="重开", by=finance)
    assert selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2027, 6, 1)) is None
    assert selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 9, 2)) is None


def test_the_early_discount_as_of_a_payment_date(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # 223,750 × 3% = 6,712.5 → 6,713 分 off until 31 Oct
    early = selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 10, 31))
    late = selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 11, 1))
    assert (early.kind, early.amount_fen) == ("early_discount", -6713)
    assert late is None
    assert _lines(bill) == [("area_fee", 223750)]


def test_bills_for_a_house_newest_season_first(tariff, house_a, house_b, finance):
    older = make_season(code="2025-2026", **_dates(2025))
    make_tariff(older, area_price=D("24.00"))
    newer = tariff.season
    old_bill = services.bill_issue(house=house_a, season=older, issued_by=finance)
    new_bill = services.bill_issue(house=house_a, season=newer, issued_by=finance)
    services.bill_issue(house=house_b, season=newer, issued_by=finance)
    assert [b.pk for b in selectors.bills_for_house(house=house_a)] == [new_bill.pk, old_bill.pk]
    assert Bill.objects.get(pk=old_bill.pk).total_fen == 214800


def _dates(year: int) -> dict:
    return {
        "heating_start": dt.date(year, 11, 15),
        "heating_end": dt.date(year + 1, 3, 15),
        "bill_issue_date": dt.date(year, 9, 1),
        "payment_due_date": dt.date(year, 12, 31),
        "stop_apply_deadline": dt.date(year, 10, 15),
        "early_discount_last_day": dt.date(year, 10, 31),
        "late_fee_start_date": dt.date(year + 1, 1, 1),
    }
