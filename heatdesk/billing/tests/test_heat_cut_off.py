"""停热日期: the day heat was cut off for non-payment stops the late fee (where the season says
so), in the fee shown, the fee fixed at payment and the fee fixed at season close; recording it
is audited and refused when it cannot be right."""

import datetime as dt

import pytest
import time_machine

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.models import Bill
from heatdesk.billing.services import ledger
from heatdesk.billing.tests.factories import assert_account_consistent, lines_of
from heatdesk.billing.tests.test_api_staff import staff_api
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db

BILL = 223750  # 89.50㎡ × 25.00; late fee 2‰ a day from 1 January = 447.5 fen a day
CUT = dt.date(2027, 1, 11)


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI)


@pytest.fixture
def bill(season, tariff, house_a, finance):
    return services.bill_issue(house=house_a, season=season, issued_by=finance)


def cut_off(bill, day=CUT, *, by, today=dt.date(2027, 1, 20), reason="欠费停热"):
    with time_machine.travel(at(today.year, today.month, today.day), tick=False):
        return services.bill_heat_cut_off_record(bill=bill, cut_off_on=day, by=by, reason=reason)


def test_recording_the_cut_off_stops_the_late_fee_from_that_day(bill, finance):
    # given: 20 days late on 20 January
    before = selectors.bill_due_as_of(bill=bill, as_of=dt.date(2027, 1, 20))
    assert before.late_fee.amount_fen == 8950  # 223,750 × 2‰ × 20
    # when: heat was cut off on 11 January
    cut_off(bill, by=finance)
    # then: only 1–10 January accrue, now and later
    row = Bill.objects.get(pk=bill.pk)
    assert row.heat_cut_off_on == CUT
    for day in (dt.date(2027, 1, 20), dt.date(2027, 3, 1)):
        due = selectors.bill_due_as_of(bill=row, as_of=day)
        assert (due.late_fee.amount_fen, due.due_fen) == (4475, BILL + 4475)
        assert due.late_fee.period_to == dt.date(2027, 1, 10)
        assert "2027-01-11起停止供热，不再计收" in due.late_fee.explanation
    entry = AuditEntry.objects.get(action="billing.bill_heat_cut_off")
    assert (entry.actor_id, entry.before, entry.after, entry.reason) == (
        finance.pk,
        {"heat_cut_off_on": None},
        {"heat_cut_off_on": "2027-01-11"},
        "欠费停热",
    )


def test_a_cut_off_before_the_late_fee_starts_leaves_no_late_fee(bill, finance):
    cut_off(bill, dt.date(2026, 12, 20), by=finance)
    due = selectors.bill_due_as_of(bill=Bill.objects.get(pk=bill.pk), as_of=dt.date(2027, 2, 1))
    assert (due.late_fee, due.due_fen) == (None, BILL)


def test_a_season_whose_late_fee_ignores_the_cut_off_keeps_accruing(tariff, house_a, finance):
    # given: the tariff fixture's season is the only one; reprice its policy for this test
    season = tariff.season
    type(season).objects.filter(pk=season.pk).update(late_fee_stops_at_cutoff=False)
    season.refresh_from_db()
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    cut_off(bill, by=finance)
    # then: the date is recorded, the fee runs on for all 20 days
    row = Bill.objects.get(pk=bill.pk)
    assert row.heat_cut_off_on == CUT
    assert selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 1, 20)).late_fee.amount_fen == (
        8950
    )


def test_paying_fixes_the_late_fee_up_to_the_cut_off(bill, house_a, finance):
    cut_off(bill, by=finance)
    # when: paid in full on 1 February
    ledger.ledger_post_payment(
        house=house_a,
        amount_fen=BILL + 4475,
        source="counter",
        source_id="R-1",
        paid_at=at(2027, 2, 1),
    )
    # then: the fixed fee counts 1–10 January only
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", BILL + 4475, BILL + 4475)
    assert lines_of(row) == [("area_fee", BILL), ("late_fee", 4475)]
    assert assert_account_consistent(house_a) == 0


def test_closing_the_season_fixes_the_late_fee_up_to_the_cut_off(
    bill, house_a, finance, admin_user
):
    cut_off(bill, by=finance)
    with time_machine.travel(at(2027, 3, 20), tick=False):
        services.season_close(season=bill.season, by=admin_user)
    assert lines_of(Bill.objects.get(pk=bill.pk)) == [("area_fee", BILL), ("late_fee", 4475)]
    assert assert_account_consistent(house_a) == BILL + 4475


def test_clearing_a_mistaken_cut_off_lets_the_fee_accrue_again(bill, finance):
    cut_off(bill, by=finance)
    # when
    services.bill_heat_cut_off_clear(bill=bill, by=finance, reason="登记错误")
    # then
    row = Bill.objects.get(pk=bill.pk)
    assert row.heat_cut_off_on is None
    assert selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 1, 20)).late_fee.amount_fen == (
        8950
    )
    entry = AuditEntry.objects.get(action="billing.bill_heat_cut_off_clear")
    assert (entry.before, entry.after, entry.reason) == (
        {"heat_cut_off_on": "2027-01-11"},
        {"heat_cut_off_on": None},
        "登记错误",
    )


@pytest.mark.parametrize(
    ("day", "today", "field"),
    [
        (dt.date(2026, 11, 14), dt.date(2027, 1, 20), "cut_off_on"),  # before heating starts
        (dt.date(2027, 3, 16), dt.date(2027, 3, 20), "cut_off_on"),  # after heating ends
        (dt.date(2027, 1, 21), dt.date(2027, 1, 20), "cut_off_on"),  # in the future
    ],
)
def test_a_date_outside_the_season_or_in_the_future_is_refused(bill, finance, day, today, field):
    with pytest.raises(ValidationFailed) as refused:
        cut_off(bill, day, by=finance, today=today)
    assert list(refused.value.fields) == [field]
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on is None
    assert not AuditEntry.objects.filter(action="billing.bill_heat_cut_off").exists()


def test_an_empty_reason_is_refused(bill, finance):
    with pytest.raises(ValidationFailed) as refused:
        cut_off(bill, by=finance, reason="  ")
    assert list(refused.value.fields) == ["reason"]
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on is None


def test_a_second_date_is_refused_until_the_first_is_cleared(bill, finance):
    cut_off(bill, by=finance)
    with pytest.raises(Conflict) as refused:
        cut_off(bill, dt.date(2027, 1, 5), by=finance)
    assert refused.value.code == "heat_cut_off_recorded"
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on == CUT
    assert AuditEntry.objects.filter(action="billing.bill_heat_cut_off").count() == 1


def test_a_paid_bill_takes_no_cut_off_and_a_fixed_fee_is_not_reopened(bill, house_a, finance):
    # given: cut off, then paid in full (the fee is fixed)
    cut_off(bill, by=finance)
    ledger.ledger_post_payment(
        house=house_a,
        amount_fen=BILL + 4475,
        source="counter",
        source_id="R-1",
        paid_at=at(2027, 2, 1),
    )
    # when / then: clearing would change a fixed fee
    with pytest.raises(Conflict) as refused:
        services.bill_heat_cut_off_clear(bill=bill, by=finance, reason="登记错误")
    assert refused.value.code == "late_fee_already_fixed"
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on == CUT


def test_a_paid_bill_is_refused(season, tariff, house_b, finance):
    bill = services.bill_issue(house=house_b, season=season, issued_by=finance)
    ledger.ledger_post_payment(
        house=house_b, amount_fen=BILL, source="counter", source_id="R-2", paid_at=at(2026, 12, 1)
    )
    with pytest.raises(Conflict) as refused:
        cut_off(bill, by=finance)
    assert refused.value.code == "bill_not_open"
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on is None


# --- API ----------------------------------------------------------------------------------------


def test_staff_record_the_cut_off_through_the_api(bill):
    url = f"billing/bills/{bill.public_id}/heat-cut-off"
    with time_machine.travel(at(2027, 1, 20), tick=False):
        api = staff_api("counter-lead", "billing.adjust_bill")
        answer = api.post(url, {"cut_off_on": "2027-01-11", "reason": "欠费停热"})
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert (body["heat_cut_off_on"], body["late_fee_fen"], body["due_today_fen"]) == (
            "2027-01-11",
            4475,
            BILL + 4475,
        )
        # a second one is a 409 in the one error format, and changes nothing
        again = api.post(url, {"cut_off_on": "2027-01-05", "reason": "x"})
        assert again.status_code == 409
        assert again.json()["code"] == "heat_cut_off_recorded"
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on == CUT


def test_the_api_refuses_without_permission_or_with_a_bad_date(bill):
    url = f"billing/bills/{bill.public_id}/heat-cut-off"
    with time_machine.travel(at(2027, 1, 20), tick=False):
        denied = staff_api("viewer", "billing.view_bill").post(
            url, {"cut_off_on": "2027-01-11", "reason": "x"}
        )
        assert denied.status_code == 403
        bad = staff_api("lead", "billing.adjust_bill").post(
            url, {"cut_off_on": "2027-04-01", "reason": "x"}
        )
        assert bad.status_code == 422
        assert "cut_off_on" in bad.json()["fields"]
        missing = staff_api("lead2", "billing.adjust_bill").post(
            "billing/bills/bl_NOPE/heat-cut-off", {"cut_off_on": "2027-01-11", "reason": "x"}
        )
        assert missing.status_code == 404
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on is None
    assert not AuditEntry.objects.filter(action="billing.bill_heat_cut_off").exists()
