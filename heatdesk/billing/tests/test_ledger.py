"""The house account: payments oldest bill first, idempotent on their source id, overpayment as
credit, the late fee fixed when a bill is paid, and a ledger that always sums to what is owed."""

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.db import transaction

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.models import Allocation, Bill, LedgerEntry
from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.services import ledger
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

pytestmark = pytest.mark.django_db

BILL = 223750  # 89.50㎡ × 25.00
OLD_BILL = 214800  # 89.50㎡ × 24.00


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI)


def pay(house, amount, ref, **kwargs):
    return ledger.ledger_post_payment(
        house=house,
        amount_fen=amount,
        source="counter",
        source_id=ref,
        paid_at=kwargs.pop("paid_at", at(2026, 11, 20)),
        **kwargs,
    )


@pytest.fixture
def two_bills(season, tariff, house_a, finance):
    """Last season's bill (unpaid arrears) and this season's."""
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    old = services.bill_issue(house=house_a, season=older, issued_by=finance)
    new = services.bill_issue(house=house_a, season=season, issued_by=finance)
    return old, new


# --- Sums ---------------------------------------------------------------------------------------


def test_issuing_posts_a_charge_and_the_ledger_sums_to_what_is_owed(two_bills, house_a):
    old, new = two_bills
    # then
    entries = list(
        LedgerEntry.objects.filter(house=house_a)
        .order_by("id")
        .values_list("kind", "amount_fen", "bill_id")
    )
    assert entries == [("charge", OLD_BILL, old.pk), ("charge", BILL, new.pk)]
    assert assert_account_consistent(house_a) == OLD_BILL + BILL


def test_a_void_bill_is_reversed_on_the_account(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    services.bill_void(bill=bill, reason="户号录入错误", by=finance)
    # then
    kinds = list(LedgerEntry.objects.order_by("id").values_list("kind", "amount_fen"))
    assert kinds == [("charge", BILL), ("adjustment", -BILL)]
    assert assert_account_consistent(house_a) == 0


# --- Payments -----------------------------------------------------------------------------------


def test_a_payment_goes_to_the_oldest_bill_first(two_bills, house_a):
    old, new = two_bills
    # when: enough for last season and 10,000 分 of this one
    posting = pay(house_a, OLD_BILL + 10000, "R-1")
    # then
    assert posting.created
    assert [(a.bill_id, a.amount_fen) for a in posting.allocations] == [
        (old.pk, OLD_BILL),
        (new.pk, 10000),
    ]
    rows = dict(Bill.objects.values_list("pk", "status"))
    assert rows == {old.pk: "paid", new.pk: "partially_paid"}
    assert Bill.objects.get(pk=new.pk).paid_fen == 10000
    assert LedgerEntry.objects.get(pk=posting.entry.pk).amount_fen == -(OLD_BILL + 10000)
    assert assert_account_consistent(house_a) == BILL - 10000
    assert AuditEntry.objects.filter(action="billing.payment_post").count() == 1


def test_a_bill_moves_issued_then_partially_paid_then_paid(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    seen = [Bill.objects.get(pk=bill.pk).status]
    for n, amount in enumerate([100000, 100000, BILL - 200000]):
        pay(house_a, amount, f"R-{n}")
        seen.append(Bill.objects.get(pk=bill.pk).status)
    assert seen == ["issued", "partially_paid", "partially_paid", "paid"]
    assert assert_account_consistent(house_a) == 0


def test_posting_the_same_payment_twice_changes_nothing(season, tariff, house_a, finance):
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    first = pay(house_a, 50000, "WX-42")
    state = account_state(house_a)
    # when
    again = pay(house_a, 50000, "WX-42")
    # then
    assert not again.created
    assert again.entry.pk == first.entry.pk
    assert [a.pk for a in again.allocations] == [a.pk for a in first.allocations]
    assert account_state(house_a) == state
    assert AuditEntry.objects.filter(action="billing.payment_post").count() == 1


def test_the_same_source_id_for_another_amount_or_house_is_refused(
    season, tariff, house_a, house_b, finance
):
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, 50000, "WX-42")
    state_a, state_b = account_state(house_a), account_state(house_b)
    for house, amount in ((house_a, 60000), (house_b, 50000)):
        with pytest.raises(Conflict) as refused:
            pay(house, amount, "WX-42")
        assert refused.value.code == "ledger_source_reused"
    assert (account_state(house_a), account_state(house_b)) == (state_a, state_b)


def test_a_lost_race_on_the_source_id_returns_the_winners_posting(season, tariff, house_a, finance):
    # given: the same payment was posted first (by a repeat, or by a concurrent post that
    # committed while we waited for the house lock); the ledger does not look before it
    # inserts, so the unique (source, source_id) refuses our entry
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    winner = pay(house_a, 50000, "WX-7")
    state = account_state(house_a)
    audits = AuditEntry.objects.count()
    # when
    answer = pay(house_a, 50000, "WX-7")
    # then
    assert (answer.created, answer.entry.pk) == (False, winner.entry.pk)
    assert [a.pk for a in answer.allocations] == [a.pk for a in winner.allocations]
    assert account_state(house_a) == state
    assert AuditEntry.objects.count() == audits


@pytest.mark.parametrize(
    ("amount", "source", "source_id", "field"),
    [
        (0, "counter", "R", "amount_fen"),
        (-100, "counter", "R", "amount_fen"),
        (12.5, "counter", "R", "amount_fen"),
        (True, "counter", "R", "amount_fen"),
        (100, "", "R", "source"),
        (100, "counter", "", "source_id"),
        (100, "counter", "x" * 65, "source_id"),
    ],
)
def test_bad_payments_are_refused_and_change_nothing(
    season, tariff, house_a, finance, amount, source, source_id, field
):
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    state = account_state(house_a)
    with pytest.raises(ValidationFailed) as refused:
        ledger.ledger_post_payment(
            house=house_a, amount_fen=amount, source=source, source_id=source_id
        )
    assert field in refused.value.fields
    assert account_state(house_a) == state


def test_explicit_allocations_come_first_then_oldest_first(two_bills, house_a):
    old, new = two_bills
    # when: the payer pays this season's bill at the counter, with 1,000 分 extra
    posting = pay(house_a, BILL + 1000, "R-9", allocations=[(new, BILL)])
    # then
    assert [(a.bill_id, a.amount_fen) for a in posting.allocations] == [
        (new.pk, BILL),
        (old.pk, 1000),
    ]
    assert dict(Bill.objects.values_list("pk", "status")) == {
        old.pk: "partially_paid",
        new.pk: "paid",
    }
    assert_account_consistent(house_a)


def test_explicit_allocations_to_another_house_or_beyond_the_payment_are_refused(
    season, tariff, house_a, house_b, finance
):
    mine = services.bill_issue(house=house_a, season=season, issued_by=finance)
    theirs = services.bill_issue(house=house_b, season=season, issued_by=finance)
    state = account_state(house_a), account_state(house_b)
    for allocations in ([(theirs, 100)], [(mine, 200)], [(mine, 0)]):
        with pytest.raises(ValidationFailed) as refused:
            pay(house_a, 100, "R-1", allocations=allocations)
        assert "allocations" in refused.value.fields
    assert (account_state(house_a), account_state(house_b)) == state


# --- Credit -------------------------------------------------------------------------------------


def test_overpayment_becomes_credit_that_the_next_bill_uses(tariff, house_a, finance):
    this_season = tariff.season
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    old = services.bill_issue(house=house_a, season=older, issued_by=finance)
    # when: 50,000 分 more than last season's bill
    pay(house_a, OLD_BILL + 50000, "R-1")
    # then: the rest is credit and the house owes less than nothing
    assert credit_fen(house_id=house_a.pk) == 50000
    assert assert_account_consistent(house_a) == -50000
    assert Bill.objects.get(pk=old.pk).status == "paid"
    # when: this season's bill is issued, the credit goes to it at once
    new = services.bill_issue(house=house_a, season=this_season, issued_by=finance)
    # then
    row = Bill.objects.get(pk=new.pk)
    assert (row.status, row.paid_fen) == ("partially_paid", 50000)
    assert credit_fen(house_id=house_a.pk) == 0
    assert assert_account_consistent(house_a) == BILL - 50000


def test_a_correction_below_what_was_paid_turns_the_excess_into_credit(two_bills, house_a, finance):
    old, new = two_bills
    pay(house_a, OLD_BILL, "R-1")  # last season paid in full
    # when: last season is corrected down by 5,000 分
    services.bill_adjust(bill=old, amount_fen=-5000, reason="面积核减", by=finance)
    # then: the 5,000 分 left last season's bill and went to this season's
    row = Bill.objects.get(pk=old.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", OLD_BILL - 5000, OLD_BILL - 5000)
    assert Bill.objects.get(pk=new.pk).paid_fen == 5000
    released = Allocation.objects.filter(bill=old, amount_fen__lt=0).get()
    assert released.amount_fen == -5000
    assert "多缴 50.00元 转入账户余额" in released.entry.explanation
    assert assert_account_consistent(house_a) == BILL - 5000


def test_a_paid_bill_corrected_upwards_is_open_again(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, BILL, "R-1")
    # when
    services.bill_adjust(bill=bill, amount_fen=3000, reason="补收面积差", by=finance)
    # then
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("partially_paid", BILL + 3000, BILL)
    assert assert_account_consistent(house_a) == 3000


def test_refunds_come_only_out_of_credit(season, tariff, house_a, finance):
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, BILL + 8000, "R-1")
    state = account_state(house_a)
    # when: more than the credit
    with pytest.raises(Conflict) as refused:
        ledger.ledger_post_refund(
            house=house_a,
            amount_fen=8001,
            source="counter",
            source_id="RF-1",
            reason="多缴退回",
            by=finance,
        )
    # then
    assert refused.value.code == "refund_exceeds_credit"
    assert account_state(house_a) == state
    # when: the credit exactly, twice
    for _ in range(2):
        ledger.ledger_post_refund(
            house=house_a,
            amount_fen=8000,
            source="counter",
            source_id="RF-1",
            reason="多缴退回",
            by=finance,
        )
    # then
    assert credit_fen(house_id=house_a.pk) == 0
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert assert_account_consistent(house_a) == 0


def test_a_correction_may_not_take_a_bill_below_zero(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    state = account_state(house_a)
    with pytest.raises(Conflict) as refused:
        services.bill_adjust(bill=bill, amount_fen=-(BILL + 1), reason="测试", by=finance)
    assert refused.value.code == "bill_total_negative"
    assert account_state(house_a) == state


def test_a_stale_status_move_is_refused(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    stale = Bill.objects.get(pk=bill.pk)
    pay(house_a, 1000, "R-1")  # the bill moved after `stale` was read
    with pytest.raises(Conflict) as refused, transaction.atomic():
        ledger._bill_move(stale, total_fen=stale.total_fen, paid_fen=stale.total_fen)
    assert refused.value.code == "bill_conflict"
    assert Bill.objects.get(pk=bill.pk).paid_fen == 1000


# --- Late fee and early discount ---------------------------------------------------------------


def test_paying_in_full_fixes_the_late_fee_as_of_the_payment_day(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    due = selectors.bill_due_as_of(bill=bill, as_of=dt.date(2027, 1, 10))
    # 223,750 × 2‰ × 10 days = 4,475 分
    assert (due.late_fee.amount_fen, due.due_fen, due.late_fee_fixed) == (4475, BILL + 4475, False)
    # when
    pay(house_a, BILL + 4475, "R-1", paid_at=at(2027, 1, 10))
    # then
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", BILL + 4475, BILL + 4475)
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee", 4475)]
    late_entry = LedgerEntry.objects.get(kind="charge", amount_fen=4475)
    assert "滞纳金（截至2027-01-10）" in late_entry.explanation
    # and nothing accrues any more
    later = selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 3, 1))
    assert (later.late_fee, later.late_fee_fen, later.due_fen) == (None, 4475, 0)
    assert assert_account_consistent(house_a) == 0


def test_a_partial_payment_leaves_the_late_fee_derived(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when: 123,750 paid on 5 January leaves 100,000 from the 6th
    pay(house_a, 123750, "R-1", paid_at=at(2027, 1, 5))
    # then: no line; 5 days on 223,750 (2,238) + 5 days on 100,000 (1,000)
    assert lines_of(bill) == [("area_fee", BILL)]
    due = selectors.bill_due_as_of(bill=Bill.objects.get(pk=bill.pk), as_of=dt.date(2027, 1, 10))
    assert due.late_fee.amount_fen == 3238
    assert due.due_fen == 100000 + 3238
    assert assert_account_consistent(house_a) == 100000


def test_paying_the_principal_but_not_the_late_fee_fixes_it_and_leaves_it_owing(
    season, tariff, house_a, finance
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, BILL, "R-1", paid_at=at(2027, 1, 10))  # the principal, not the late fee
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("partially_paid", BILL + 4475, BILL)
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee", 4475)]
    # the late fee stopped growing when the principal was paid
    later = selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 2, 10))
    assert (later.late_fee, later.due_fen) == (None, 4475)
    assert assert_account_consistent(house_a) == 4475


def test_paying_in_time_fixes_the_early_discount(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # 223,750 × 3% = 6,712.5 → 6,713 off when paid in full by 31 October
    pay(house_a, BILL - 6713, "R-1", paid_at=at(2026, 10, 31))
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen) == ("paid", BILL - 6713)
    assert lines_of(bill) == [("area_fee", BILL), ("early_discount", -6713)]
    assert LedgerEntry.objects.get(kind="credit").amount_fen == -6713
    assert assert_account_consistent(house_a) == 0


def test_closing_the_season_fixes_late_fees_of_unpaid_bills(
    season, tariff, house_a, house_b, finance, admin_user
):
    unpaid = services.bill_issue(house=house_a, season=season, issued_by=finance)
    paid = services.bill_issue(house=house_b, season=season, issued_by=finance)
    pay(house_b, BILL, "R-1", paid_at=at(2026, 12, 1))
    # when: closed on 20 March, 79 days after 1 January (223,750 × 2‰ × 79 = 35,352.5 → 35,353)
    with time_machine.travel(at(2027, 3, 20), tick=False):
        services.season_close(season=season, by=admin_user)
    # then
    assert lines_of(unpaid) == [("area_fee", BILL), ("late_fee", 35353)]
    assert lines_of(paid) == [("area_fee", BILL)]
    # and it no longer grows
    row = Bill.objects.get(pk=unpaid.pk)
    later = selectors.bill_due_as_of(bill=row, as_of=dt.date(2027, 9, 1))
    assert (later.late_fee, later.due_fen) == (None, BILL + 35353)
    assert assert_account_consistent(house_a) == BILL + 35353
    assert AuditEntry.objects.get(action="billing.season_close").after["late_fees_fixed"] == 1
