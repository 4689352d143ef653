"""滞纳金减免: staff ask to waive all or part of a bill's late fee; someone else approves (a credit
line and its ledger entry, audited) or rejects with a note. Refused when there is no late fee,
the amount is more than what is left of it, or the asker decides — with nothing changed."""

import datetime as dt

import pytest
import time_machine
from django.db import IntegrityError, transaction

from heatdesk.accounts.roles import ROLE_FINANCE
from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.models import Bill, BillLine, LateFeeWaiver, LedgerEntry
from heatdesk.billing.services import ledger
from heatdesk.billing.services.late_fee_waivers import (
    late_fee_waivable_fen,
    late_fee_waiver_approve,
    late_fee_waiver_reject,
    late_fee_waiver_request,
)
from heatdesk.billing.tests.factories import (
    account_state,
    assert_account_consistent,
    bill_state,
    lines_of,
)
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from heatdesk.testing import make_staff

pytestmark = pytest.mark.django_db

BILL = 223750  # 89.50㎡ × 25.00; late fee 2‰ a day from 1 January = 447.5 fen a day
FEE_JAN_20 = 8950  # 20 days


def on(y: int, m: int, d: int):
    return time_machine.travel(dt.datetime(y, m, d, 10, tzinfo=SHANGHAI), tick=False)


@pytest.fixture
def bill(season, tariff, house_a, finance):
    return services.bill_issue(house=house_a, season=season, issued_by=finance)


@pytest.fixture
def approver(db):
    return make_staff("finance2", ROLE_FINANCE)


def waiver_state(bill) -> tuple:
    return (
        list(
            LateFeeWaiver.objects.filter(bill=bill)
            .order_by("id")
            .values_list("status", "amount_fen", "decided_by_id", "line_id")
        ),
        AuditEntry.objects.filter(action__startswith="billing.late_fee_waiver").count(),
    )


def test_an_approved_partial_waiver_of_a_derived_fee_is_a_credit_line_and_a_ledger_entry(
    bill, house_a, agent, approver
):
    # given: 20 days late, the fee not fixed yet
    with on(2027, 1, 20):
        assert late_fee_waivable_fen(bill=bill, as_of=dt.date(2027, 1, 20)) == FEE_JAN_20
        waiver = late_fee_waiver_request(bill=bill, amount_fen=5000, reason="困难家庭", by=agent)
        assert bill_state(bill)[1] == BILL  # a request changes no money
        # when
        late_fee_waiver_approve(waiver=waiver, by=approver)
    # then: the request is approved by another person, with its line
    waiver.refresh_from_db()
    assert (waiver.status, waiver.decided_by_id) == ("approved", approver.pk)
    line = BillLine.objects.get(pk=waiver.line_id)
    assert (line.kind, line.amount_fen, line.reason, line.created_by_id) == (
        "late_fee_waiver",
        -5000,
        "困难家庭",
        approver.pk,
    )
    assert "滞纳金减免 50.00元" in line.explanation
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee_waiver", -5000)]
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("issued", BILL - 5000, 0)
    entry = LedgerEntry.objects.filter(house=house_a).order_by("-id").first()
    assert (entry.kind, entry.amount_fen, entry.bill_id) == ("credit", -5000, bill.pk)
    audit = AuditEntry.objects.get(action="billing.late_fee_waiver_approve")
    assert (audit.actor_id, audit.before, audit.after["amount_fen"], audit.reason) == (
        approver.pk,
        {"status": "pending", "waivable_fen": FEE_JAN_20},
        5000,
        "困难家庭",
    )
    assert AuditEntry.objects.filter(action="billing.late_fee_waiver_request").count() == 1
    # and: the late fee keeps accruing; what settles the bill is principal + fee − waiver
    due = selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 1, 30))
    assert due.late_fee.amount_fen == 13425  # 30 days
    assert due.due_fen == BILL + 13425 - 5000
    assert late_fee_waivable_fen(bill=row, as_of=dt.date(2027, 1, 30)) == 13425 - 5000
    with on(2027, 1, 30):
        ledger.ledger_post_payment(
            house=house_a, amount_fen=due.due_fen, source="counter", source_id="c-1"
        )
    row.refresh_from_db()
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", due.due_fen, due.due_fen)
    assert lines_of(bill)[-1] == ("late_fee", 13425)
    assert assert_account_consistent(house_a) == 0


def test_waiving_a_fixed_fee_of_a_paid_bill_turns_the_money_into_account_credit(
    bill, house_a, agent, approver
):
    # given: paid in full on 20 January, the fee fixed into a line
    with on(2027, 1, 20):
        ledger.ledger_post_payment(
            house=house_a, amount_fen=BILL + FEE_JAN_20, source="counter", source_id="c-1"
        )
    assert lines_of(bill)[-1] == ("late_fee", FEE_JAN_20)
    # when: later, all of the fixed fee is waived (the fee no longer grows)
    with on(2027, 2, 20):
        assert late_fee_waivable_fen(bill=bill, as_of=dt.date(2027, 2, 20)) == FEE_JAN_20
        waiver = late_fee_waiver_request(
            bill=bill, amount_fen=FEE_JAN_20, reason="政策性减免", by=agent
        )
        late_fee_waiver_approve(waiver=waiver, by=approver)
    # then: the bill stays paid at its lower total; the excess is the house's credit
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", BILL, BILL)
    assert assert_account_consistent(house_a) == -FEE_JAN_20
    assert (
        AuditEntry.objects.get(action="billing.late_fee_waiver_approve").after["released_fen"]
        == FEE_JAN_20
    )
    # and: nothing more can be waived
    with on(2027, 2, 21), pytest.raises(Conflict) as exc:
        late_fee_waiver_request(bill=bill, amount_fen=1, reason="再减", by=agent)
    assert exc.value.code == "late_fee_waived_already"


def test_a_bill_without_a_late_fee_is_refused_and_nothing_changes(bill, house_a, agent):
    before = account_state(house_a), waiver_state(bill)
    with on(2026, 12, 20), pytest.raises(Conflict) as exc:
        late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
    assert exc.value.code == "late_fee_none"
    assert (account_state(house_a), waiver_state(bill)) == before


@pytest.mark.parametrize(("amount", "code"), [(FEE_JAN_20 + 1, "waiver_exceeds_late_fee")])
def test_more_than_the_late_fee_as_of_today_is_refused(bill, house_a, agent, amount, code):
    before = account_state(house_a), waiver_state(bill)
    with on(2027, 1, 20), pytest.raises(Conflict) as exc:
        late_fee_waiver_request(bill=bill, amount_fen=amount, reason="减免", by=agent)
    assert exc.value.code == code
    assert exc.value.fields == {"amount_fen": [f"最多可减免 {FEE_JAN_20} 分。"]}
    assert (account_state(house_a), waiver_state(bill)) == before


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        (0, "减免", "amount_fen"),
        (-5, "减免", "amount_fen"),
        (True, "减免", "amount_fen"),
        (100, "  ", "reason"),
        (100, "长" * 201, "reason"),
    ],
)
def test_bad_input_is_refused(bill, house_a, agent, amount, reason, field):
    before = account_state(house_a), waiver_state(bill)
    with on(2027, 1, 20), pytest.raises(ValidationFailed) as exc:
        late_fee_waiver_request(bill=bill, amount_fen=amount, reason=reason, by=agent)
    assert field in exc.value.fields
    assert (account_state(house_a), waiver_state(bill)) == before


def test_the_asker_cannot_decide_and_nothing_changes(bill, house_a, finance):
    with on(2027, 1, 20):
        waiver = late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=finance)
        before = account_state(house_a), waiver_state(bill)
        for act in (
            lambda: late_fee_waiver_approve(waiver=waiver, by=finance),
            lambda: late_fee_waiver_reject(waiver=waiver, by=finance, note="不同意"),
        ):
            with pytest.raises(Conflict) as exc:
                act()
            assert exc.value.code == "waiver_same_person"
    assert (account_state(house_a), waiver_state(bill)) == before
    # the database refuses it too
    with pytest.raises(IntegrityError), transaction.atomic():
        LateFeeWaiver.objects.filter(pk=waiver.pk).update(
            status="rejected", decided_by=finance, decided_at=waiver.requested_at, decision_note="x"
        )


def test_without_the_permission_nobody_asks_or_decides(bill, house_a, collector, agent):
    with on(2027, 1, 20):
        with pytest.raises(PermissionDenied):
            late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=collector)
        waiver = late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
        before = account_state(house_a), waiver_state(bill)
        with pytest.raises(PermissionDenied):
            late_fee_waiver_approve(waiver=waiver, by=collector)
    assert (account_state(house_a), waiver_state(bill)) == before


def test_a_rejection_needs_a_note_and_changes_no_money(bill, house_a, agent, approver):
    with on(2027, 1, 20):
        waiver = late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
        before = account_state(house_a)
        with pytest.raises(ValidationFailed):
            late_fee_waiver_reject(waiver=waiver, by=approver, note=" ")
        assert LateFeeWaiver.objects.get(pk=waiver.pk).status == "pending"
        late_fee_waiver_reject(waiver=waiver, by=approver, note="不符合减免条件")
    waiver.refresh_from_db()
    assert (waiver.status, waiver.decision_note, waiver.decided_by_id, waiver.line_id) == (
        "rejected",
        "不符合减免条件",
        approver.pk,
        None,
    )
    assert account_state(house_a) == before
    audit = AuditEntry.objects.get(action="billing.late_fee_waiver_reject")
    assert (audit.actor_id, audit.reason) == (approver.pk, "不符合减免条件")
    # decided once: neither a second decision nor an approval
    before = account_state(house_a), waiver_state(bill)
    with on(2027, 1, 21), pytest.raises(Conflict) as exc:
        late_fee_waiver_approve(waiver=waiver, by=approver)
    assert exc.value.code == "waiver_not_pending"
    assert (account_state(house_a), waiver_state(bill)) == before


def test_one_pending_request_per_bill(bill, house_a, agent, finance):
    with on(2027, 1, 20):
        late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
        before = account_state(house_a), waiver_state(bill)
        with pytest.raises(Conflict) as exc:
            late_fee_waiver_request(bill=bill, amount_fen=200, reason="减免", by=finance)
    assert exc.value.code == "waiver_pending"
    assert (account_state(house_a), waiver_state(bill)) == before


def test_an_approval_twice_posts_one_line(bill, house_a, agent, approver):
    with on(2027, 1, 20):
        waiver = late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
        late_fee_waiver_approve(waiver=waiver, by=approver)
        before = account_state(house_a), waiver_state(bill)
        with pytest.raises(Conflict) as exc:
            late_fee_waiver_approve(waiver=waiver, by=approver)
    assert exc.value.code == "waiver_not_pending"
    assert (account_state(house_a), waiver_state(bill)) == before


def test_the_approval_checks_the_fee_again_and_refuses_what_a_cut_off_took_away(
    bill, house_a, agent, approver
):
    # given: all of the 20 days' fee asked for, then heat cut off on 11 January recorded
    with on(2027, 1, 20):
        waiver = late_fee_waiver_request(bill=bill, amount_fen=FEE_JAN_20, reason="减免", by=agent)
        services.bill_heat_cut_off_record(
            bill=bill, cut_off_on=dt.date(2027, 1, 11), by=approver, reason="欠费停热"
        )
        before = account_state(house_a), waiver_state(bill)
        # when
        with pytest.raises(Conflict) as exc:
            late_fee_waiver_approve(waiver=waiver, by=approver)
    # then: only 10 days' fee (4,475 fen) is left to waive; nothing changed
    assert exc.value.code == "waiver_exceeds_late_fee"
    assert exc.value.fields == {"amount_fen": ["最多可减免 4475 分。"]}
    assert (account_state(house_a), waiver_state(bill)) == before


def test_a_cut_off_that_would_take_the_fee_below_the_waiver_is_refused(
    bill, house_a, agent, approver
):
    with on(2027, 1, 20):
        waiver = late_fee_waiver_request(bill=bill, amount_fen=6000, reason="减免", by=agent)
        late_fee_waiver_approve(waiver=waiver, by=approver)
        before = bill_state(bill), Bill.objects.get(pk=bill.pk).heat_cut_off_on
        with pytest.raises(Conflict) as exc:
            services.bill_heat_cut_off_record(
                bill=bill, cut_off_on=dt.date(2027, 1, 11), by=approver, reason="欠费停热"
            )
        assert exc.value.code == "late_fee_waived"
        assert (bill_state(bill), Bill.objects.get(pk=bill.pk).heat_cut_off_on) == before
        # a cut-off that leaves enough fee is recorded
        services.bill_heat_cut_off_record(
            bill=bill, cut_off_on=dt.date(2027, 1, 16), by=approver, reason="欠费停热"
        )
    assert Bill.objects.get(pk=bill.pk).heat_cut_off_on == dt.date(2027, 1, 16)


def test_a_void_bill_is_not_waived(bill, house_a, agent, finance):
    services.bill_void(bill=bill, by=finance, reason="重开")
    before = account_state(house_a), waiver_state(bill)
    with on(2027, 1, 20), pytest.raises(Conflict) as exc:
        late_fee_waiver_request(bill=bill, amount_fen=100, reason="减免", by=agent)
    assert exc.value.code == "bill_not_waivable"
    assert (account_state(house_a), waiver_state(bill)) == before
