"""Taking a payment back (a refund paid out, a counter payment voided): credit first, then the
bills the payment paid, newest first, which reopen; never more than the payment has left."""

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine

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
from heatdesk.core.errors import Conflict, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

BILL = 223750  # 89.50㎡ × 25.00
OLD_BILL = 214800  # 89.50㎡ × 24.00


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI)


def pay(house, amount, ref, **kwargs):
    return ledger.ledger_post_payment(
        house=house,
        amount_fen=amount,
        source="wechatpay",
        source_id=ref,
        paid_at=kwargs.pop("paid_at", at(2026, 11, 20)),
        **kwargs,
    )


def reverse(house, amount, ref, *, payment="P1", by=None):
    return ledger.ledger_reverse_payment(
        house=house,
        payment_source="wechatpay",
        payment_source_id=payment,
        amount_fen=amount,
        source="refund",
        source_id=ref,
        reason="重复缴费退款",
        by=by,
    )


def status_paid(bill) -> tuple[str, int, int]:
    row = Bill.objects.get(pk=bill.pk)
    return row.status, row.total_fen, row.paid_fen


@pytest.fixture
def two_bills(season, tariff, house_a, finance):
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    old = services.bill_issue(house=house_a, season=older, issued_by=finance)
    new = services.bill_issue(house=house_a, season=season, issued_by=finance)
    return old, new


def test_credit_goes_first_then_bills_reopen_newest_first(two_bills, house_a, finance):
    old, new = two_bills
    # given one payment that settled both bills and left 1000 fen of credit
    pay(house_a, OLD_BILL + BILL + 1000, "P1")
    assert (status_paid(old)[0], status_paid(new)[0]) == ("paid", "paid")
    # when 1000 + 500 fen of it is taken back
    posted = reverse(house_a, 1500, "RF1", by=finance)
    # then the credit is gone first, and the newest bill reopens for the rest
    assert posted.created
    assert credit_fen(house_id=house_a.pk) == 0
    assert status_paid(new) == ("partially_paid", BILL, BILL - 500)
    assert status_paid(old) == ("paid", OLD_BILL, OLD_BILL)
    assert [(a.bill_id, a.amount_fen) for a in posted.allocations] == [(new.pk, -500)]
    assert (posted.entry.kind, posted.entry.amount_fen, posted.entry.reverses.source_id) == (
        "refund",
        1500,
        "P1",
    )
    assert assert_account_consistent(house_a) == 500
    audit = AuditEntry.objects.get(action="billing.payment_reverse")
    assert audit.after["from_credit_fen"] == 1000
    assert audit.after["bills"] == [[new.pk, 500]]
    assert audit.actor_id == finance.pk


def test_a_full_reversal_reopens_every_bill_it_paid(two_bills, house_a):
    old, new = two_bills
    pay(house_a, OLD_BILL + BILL, "P1")
    # when
    reverse(house_a, OLD_BILL + BILL, "RF1")
    # then
    assert status_paid(new) == ("issued", BILL, 0)
    assert status_paid(old) == ("issued", OLD_BILL, 0)
    assert assert_account_consistent(house_a) == OLD_BILL + BILL
    assert Allocation.objects.filter(amount_fen__lt=0).count() == 2


def test_partial_reversals_add_up_to_the_payment_and_no_further(two_bills, house_a):
    old, new = two_bills
    pay(house_a, BILL, "P1")  # pays most of the old bill... oldest first
    reverse(house_a, 100000, "RF1")
    reverse(house_a, BILL - 100000, "RF2")
    assert status_paid(old) == ("issued", OLD_BILL, 0)
    before = account_state(house_a)
    # when one more fen is asked for
    with pytest.raises(Conflict) as refused:
        reverse(house_a, 1, "RF3")
    # then it is refused and nothing changed
    assert refused.value.code == "reversal_exceeds_payment"
    assert account_state(house_a) == before
    assert not LedgerEntry.objects.filter(source_id="RF3").exists()


def test_a_repeat_is_a_no_op_and_a_reused_id_is_refused(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, BILL, "P1")
    first = reverse(house_a, 1000, "RF1")
    before = account_state(house_a)
    # when
    again = reverse(house_a, 1000, "RF1")
    # then
    assert (again.created, again.entry.pk) == (False, first.entry.pk)
    assert account_state(house_a) == before
    with pytest.raises(Conflict) as reused:
        reverse(house_a, 999, "RF1")
    assert reused.value.code == "ledger_source_reused"
    assert account_state(house_a) == before
    assert status_paid(bill) == ("partially_paid", BILL, BILL - 1000)


def test_unknown_payments_and_bad_input_are_refused(season, tariff, house_a, house_b, finance):
    services.bill_issue(house=house_a, season=season, issued_by=finance)
    pay(house_a, 5000, "P1")
    before = account_state(house_a)
    with pytest.raises(NotFound):
        reverse(house_a, 100, "RF1", payment="NOPE")
    with pytest.raises(NotFound):
        reverse(house_b, 100, "RF1")  # the payment is house A's
    with pytest.raises(ValidationFailed):
        reverse(house_a, 0, "RF1")
    with pytest.raises(ValidationFailed):
        ledger.ledger_reverse_payment(
            house=house_a,
            payment_source="wechatpay",
            payment_source_id="P1",
            amount_fen=100,
            source="refund",
            source_id="RF1",
            reason=" ",
        )
    assert account_state(house_a) == before
    assert not AuditEntry.objects.filter(action="billing.payment_reverse").exists()


def test_credit_later_used_by_a_new_bill_is_taken_back_from_that_bill(
    season, tariff, house_a, finance
):
    # given a payment made before the bill existed: all credit
    pay(house_a, BILL, "P1")
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    assert status_paid(bill)[0] == "paid"  # the credit went to the new bill
    # when the payment is taken back in full
    reverse(house_a, BILL, "RF1")
    # then the bill it ended up paying reopens
    assert status_paid(bill) == ("issued", BILL, 0)
    assert assert_account_consistent(house_a) == BILL


def test_the_late_fee_fixed_at_payment_stays_and_does_not_restart(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # given a late payment that settled the bill and fixed the late fee (10 days × 2‰)
    paid_at = at(2027, 1, 10)
    with time_machine.travel(paid_at, tick=False):
        due = selectors.bill_due_as_of(bill=bill, as_of=paid_at.date())
        pay(house_a, due.due_fen, "P1", paid_at=paid_at)
    late = due.due_fen - BILL
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee", late)]
    # when half a yuan is refunded a month later
    with time_machine.travel(at(2027, 2, 10), tick=False):
        reverse(house_a, 50, "RF1")
        # then the bill owes exactly that, and its late fee is still the one fixed
        later = selectors.bill_due_as_of(
            bill=Bill.objects.get(pk=bill.pk), as_of=dt.date(2027, 2, 10)
        )
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee", late)]
    assert status_paid(bill) == ("partially_paid", BILL + late, BILL + late - 50)
    assert (later.late_fee, later.due_fen, later.late_fee_fen) == (None, 50, late)
    assert assert_account_consistent(house_a) == 50
