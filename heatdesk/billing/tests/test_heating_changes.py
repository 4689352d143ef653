"""报停 / 复供: before the deadline only, never with arrears, one pending application per house;
approval corrects an issued bill with new lines pro rata from the effective date."""

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.calculation import ChargeableArea, SeasonDates, TariffTerms
from heatdesk.billing.calculation import heating_change_lines as lines_for
from heatdesk.billing.models import Bill, BillLine, HeatingChange, LedgerEntry
from heatdesk.billing.services import ledger
from heatdesk.billing.services.heating_changes import (
    heating_change_apply,
    heating_change_approve,
    heating_change_reject,
)
from heatdesk.billing.tests.factories import (
    account_state,
    assert_account_consistent,
    dates_of,
    lines_of,
    make_season,
    make_tariff,
)
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.estates.models import House

pytestmark = pytest.mark.django_db

BILL = 223750
STOP_FEE = 67125  # 89.50㎡ × 25.00 × 30%
BEFORE_DEADLINE = dt.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI)
AFTER_DEADLINE = dt.datetime(2026, 10, 16, 9, tzinfo=SHANGHAI)


@pytest.fixture
def early():
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        yield


def apply(resident, house, season, kind="stop", **kwargs):
    return heating_change_apply(resident=resident, house=house, season=season, kind=kind, **kwargs)


def state(house) -> tuple:
    return (
        House.objects.get(pk=house.pk).heating_status,
        list(HeatingChange.objects.order_by("id").values_list("status", "effective_from")),
        account_state(house),
    )


# --- Applying -----------------------------------------------------------------------------------


def test_a_resident_applies_before_the_deadline(season, tariff, house_a, resident, early):
    change = apply(resident, house_a, season, note="全家外出")
    row = HeatingChange.objects.get(pk=change.pk)
    assert (row.kind, row.status, row.requested_from, row.applicant, row.note) == (
        "stop",
        "pending",
        season.heating_start,
        resident,
        "全家外出",
    )
    assert row.public_id.startswith("hc_")
    assert House.objects.get(pk=house_a.pk).heating_status == "heating"
    assert AuditEntry.objects.get(action="billing.heating_change_apply").actor == resident


def test_applying_after_the_deadline_is_refused(season, tariff, house_a, resident):
    with time_machine.travel(AFTER_DEADLINE, tick=False), pytest.raises(Conflict) as refused:
        apply(resident, house_a, season)
    assert refused.value.code == "apply_deadline_passed"
    assert not HeatingChange.objects.exists()


def test_the_deadline_day_itself_is_still_in_time(season, tariff, house_a, resident):
    with time_machine.travel(dt.datetime(2026, 10, 15, 23, 59, tzinfo=SHANGHAI), tick=False):
        apply(resident, house_a, season)
    assert HeatingChange.objects.count() == 1


def test_arrears_from_an_earlier_season_block_the_application_until_paid(
    season, tariff, house_a, resident, finance, early
):
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    services.bill_issue(house=house_a, season=older, issued_by=finance)
    # when
    with pytest.raises(Conflict) as refused:
        apply(resident, house_a, season)
    # then
    assert refused.value.code == "arrears_outstanding"
    assert "2,148.00元" in refused.value.message
    assert not HeatingChange.objects.exists()
    # when the arrears are paid, the same application goes through
    ledger.ledger_post_payment(house=house_a, amount_fen=214800, source="counter", source_id="A1")
    assert apply(resident, house_a, season).status == "pending"


def test_one_pending_application_per_house(season, tariff, house_a, resident, early):
    apply(resident, house_a, season)
    with pytest.raises(Conflict) as refused:
        apply(resident, house_a, season)
    assert refused.value.code == "application_pending"
    assert HeatingChange.objects.count() == 1


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        ("stopped", "stop", "heating_status_mismatch"),
        ("heating", "resume", "heating_status_mismatch"),
        ("disconnected", "stop", "house_disconnected"),
    ],
)
def test_an_application_must_fit_the_houses_status(
    season, tariff, house_a, resident, early, status, kind, code
):
    House.objects.filter(pk=house_a.pk).update(heating_status=status)
    with pytest.raises(Conflict) as refused:
        apply(resident, house_a, season, kind=kind)
    assert refused.value.code == code
    assert not HeatingChange.objects.exists()


def test_the_requested_date_must_be_in_the_season(season, tariff, house_a, resident, early):
    with pytest.raises(ValidationFailed) as refused:
        apply(resident, house_a, season, requested_from=dt.date(2027, 3, 16))
    assert "requested_from" in refused.value.fields
    assert not HeatingChange.objects.exists()


# --- Approving ----------------------------------------------------------------------------------


def test_approval_for_the_whole_season_corrects_the_issued_bill_with_new_lines(
    season, tariff, house_a, resident, finance, agent, early
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    original = BillLine.objects.get(bill=bill)
    change = apply(resident, house_a, season)
    # when
    heating_change_approve(change=change, by=agent)
    # then
    assert lines_of(bill) == [
        ("area_fee", BILL),
        ("adjustment", -BILL),
        ("stop_basic_fee", STOP_FEE),
    ]
    reversal, stop = BillLine.objects.filter(bill=bill).order_by("id")[1:]
    assert reversal.explanation == "报停冲减：建筑面积 89.50㎡ × 25.00元/㎡"
    assert stop.explanation == "报停基本热费：建筑面积 89.50㎡ × 25.00元/㎡ × 30%"
    assert BillLine.objects.get(pk=original.pk).amount_fen == BILL  # never edited
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen) == ("issued", STOP_FEE)
    assert House.objects.get(pk=house_a.pk).heating_status == "stopped"
    change.refresh_from_db()
    assert (change.status, change.effective_from, change.bill_id, change.decided_by) == (
        "approved",
        season.heating_start,
        bill.pk,
        agent,
    )
    entry = LedgerEntry.objects.filter(bill=bill).order_by("-id").first()
    assert (entry.kind, entry.amount_fen) == ("credit", STOP_FEE - BILL)
    assert assert_account_consistent(house_a) == STOP_FEE
    status_audit = AuditEntry.objects.get(action="house.heating_status_set")
    assert (status_audit.before, status_audit.after, status_audit.actor) == (
        {"heating_status": "heating"},
        {"heating_status": "stopped"},
        agent,
    )
    assert AuditEntry.objects.filter(action="billing.heating_change_approve").count() == 1


def test_approval_from_a_later_day_is_pro_rata(
    season, tariff, house_a, resident, finance, agent, early
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    change = apply(resident, house_a, season)
    # when: valve closed on 15 January; 60 of the season's 121 days remain
    heating_change_approve(change=change, by=agent, effective_from=dt.date(2027, 1, 15))
    # then: 223,750 × 60/121 = 110,950.4 → 110,950; 67,125 × 60/121 = 33,285.1 → 33,285
    assert lines_of(bill) == [
        ("area_fee", BILL),
        ("adjustment", -110950),
        ("stop_basic_fee", 33285),
    ]
    reversal = BillLine.objects.filter(bill=bill).order_by("id")[1]
    assert reversal.explanation == (
        "报停冲减：建筑面积 89.50㎡ × 25.00元/㎡ × 60/121天（2027-01-15至2027-03-15）"
    )
    assert (reversal.period_from, reversal.period_to) == (dt.date(2027, 1, 15), season.heating_end)
    assert Bill.objects.get(pk=bill.pk).total_fen == BILL - 110950 + 33285


def test_a_stop_approved_on_a_paid_bill_turns_the_overpayment_into_credit(
    season, tariff, house_a, resident, finance, agent, early
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    ledger.ledger_post_payment(house=house_a, amount_fen=BILL - 6713, source="wx", source_id="P1")
    paid_total = Bill.objects.get(pk=bill.pk).total_fen  # early discount fixed: 217,037
    change = apply(resident, house_a, season)
    # when
    heating_change_approve(change=change, by=agent)
    # then: the bill now asks for less than was paid; the difference is credit
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == (
        "paid",
        paid_total - BILL + STOP_FEE,
        paid_total - BILL + STOP_FEE,
    )
    from heatdesk.billing.selectors.account import credit_fen

    assert credit_fen(house_id=house_a.pk) == BILL - STOP_FEE
    assert assert_account_consistent(house_a) == -(BILL - STOP_FEE)


def test_resume_corrects_a_stop_fee_bill_back_to_the_area_fee(
    season, tariff, house_a, resident, finance, agent, early
):
    House.objects.filter(pk=house_a.pk).update(heating_status="stopped")
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    assert lines_of(bill) == [("stop_basic_fee", STOP_FEE)]
    change = apply(resident, house_a, season, kind="resume")
    # when
    heating_change_approve(change=change, by=agent)
    # then
    assert lines_of(bill) == [
        ("stop_basic_fee", STOP_FEE),
        ("adjustment", -STOP_FEE),
        ("area_fee", BILL),
    ]
    assert Bill.objects.get(pk=bill.pk).total_fen == BILL
    assert House.objects.get(pk=house_a.pk).heating_status == "heating"
    assert BillLine.objects.filter(bill=bill).order_by("id").last().explanation == (
        "复供：建筑面积 89.50㎡ × 25.00元/㎡"
    )


def test_without_a_bill_approval_changes_the_status_and_the_next_bill_follows(
    season, tariff, house_a, resident, finance, agent, early
):
    change = apply(resident, house_a, season)
    heating_change_approve(change=change, by=agent)
    assert House.objects.get(pk=house_a.pk).heating_status == "stopped"
    assert not Bill.objects.exists()
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    assert lines_of(bill) == [("stop_basic_fee", STOP_FEE)]


def test_without_a_bill_a_later_effective_day_is_refused_and_nothing_changes(
    season, tariff, house_a, resident, agent, early
):
    change = apply(resident, house_a, season)
    before = state(house_a)
    with pytest.raises(Conflict) as refused:
        heating_change_approve(change=change, by=agent, effective_from=dt.date(2027, 1, 15))
    assert refused.value.code == "bill_not_issued"
    assert state(house_a) == before


def test_arrears_found_at_approval_refuse_it_and_nothing_changes(
    season, tariff, house_a, resident, finance, agent, early
):
    change = apply(resident, house_a, season)
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    services.bill_issue(house=house_a, season=older, issued_by=finance)  # found later
    before = state(house_a)
    with pytest.raises(Conflict) as refused:
        heating_change_approve(change=change, by=agent)
    assert refused.value.code == "arrears_outstanding"
    assert state(house_a) == before


def test_reject_needs_a_reason_and_decides_once(season, tariff, house_a, resident, agent, early):
    change = apply(resident, house_a, season)
    with pytest.raises(ValidationFailed):
        heating_change_reject(change=change, by=agent, reason=" ")
    assert HeatingChange.objects.get(pk=change.pk).status == "pending"
    heating_change_reject(change=change, by=agent, reason="该户有未处理的工单")
    row = HeatingChange.objects.get(pk=change.pk)
    assert (row.status, row.decision_reason, row.decided_by) == (
        "rejected",
        "该户有未处理的工单",
        agent,
    )
    assert House.objects.get(pk=house_a.pk).heating_status == "heating"
    before = state(house_a)
    for decide in (
        lambda: heating_change_approve(change=change, by=agent),
        lambda: heating_change_reject(change=change, by=agent, reason="再次"),
    ):
        with pytest.raises(Conflict) as refused:
            decide()
        assert refused.value.code == "application_decided"
    assert state(house_a) == before


# --- The correction calculator -----------------------------------------------------------------


def test_a_surcharge_taken_back_is_written_as_an_adjustment():
    lines = lines_for(
        change="stop",
        season=SeasonDates(start=dt.date(2026, 11, 15), end=dt.date(2027, 3, 15)),
        terms=TariffTerms(pricing="area", area_price=D("40.00"), surcharge_ratio=D("0.10")),
        area=ChargeableArea(value=D("100.00")),
        effective_from=dt.date(2026, 11, 15),
    )
    # 400,000 taken back, 120,000 stop fee: charges fall by 280,000, the surcharge by 28,000
    assert [(line.kind, line.amount_fen) for line in lines] == [
        ("adjustment", -400000),
        ("stop_basic_fee", 120000),
        ("adjustment", -28000),
    ]
    assert lines[2].explanation == "报停更正 非居民加价：热费 -2,800.00元 × 10%"
    assert [line.reason for line in lines if line.kind == "adjustment"] == [
        "报停冲减面积热费",
        "报停更正",
    ]
