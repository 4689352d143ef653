"""Shifts open with a float and close against what was counted; a difference needs a note and
raises an alert. Voids need a supervisor other than the collector, a reason and an open shift,
and give the bills and the account back exactly."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import pytest

from heatdesk.audit.models import AuditEntry
from heatdesk.billing.models import LedgerEntry
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from heatdesk.payments.models import CounterShift, PaymentAlert, PaymentOrder
from heatdesk.payments.services.counter import counter_payment_record, counter_payment_void
from heatdesk.payments.services.counter_shifts import shift_close, shift_open
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    bill_state,
    credit,
    grant,
    ledger_rows,
    on_nov_20,
    shift,
)

pytestmark = pytest.mark.django_db


def take(collector, house, key, **kwargs):
    kwargs.setdefault("channel", "cash")
    return counter_payment_record(collector=collector, house=house, idempotency_key=key, **kwargs)


# --- Open ---------------------------------------------------------------------------------------


def test_one_open_shift_per_collector(collector, shift):
    with pytest.raises(Conflict) as refused:
        shift_open(collector=collector, opening_float_fen=100)
    assert refused.value.code == "shift_already_open"
    assert list(CounterShift.objects.values_list("opening_float_fen", "status")) == [
        (50000, "open")
    ]
    assert AuditEntry.objects.filter(action="payments.shift_open").count() == 1


def test_a_negative_float_is_refused(collector, on_nov_20):
    with pytest.raises(ValidationFailed):
        shift_open(collector=collector, opening_float_fen=-1)
    assert not CounterShift.objects.exists()


def test_an_agent_cannot_open_a_shift(agent, on_nov_20):
    with pytest.raises(PermissionDenied):
        shift_open(collector=agent)
    assert not CounterShift.objects.exists()


# --- Close --------------------------------------------------------------------------------------


def test_balanced_close(collector, house_a, house_b, bill, shift):
    # given: cash for the bill, a POS prepayment for house B
    take(collector, house_a, "k1", bills=[bill])
    take(collector, house_b, "k2", channel="pos", amount_fen=30000, reference="POS-1")
    # when: the drawer holds the float and the cash, the POS slips the card payment
    closed = shift_close(
        shift=shift, counted={"cash": 50000 + BILL, "pos": 30000}, note="", by=collector
    )
    # then
    assert closed.status == "closed"
    assert closed.expected == {"cash": 50000 + BILL, "pos": 30000, "transfer": 0}
    assert closed.counted == {"cash": 50000 + BILL, "pos": 30000, "transfer": 0}
    assert closed.difference_fen == 0
    assert closed.closed_at is not None
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.SHIFT_DIFFERENCE).exists()
    assert AuditEntry.objects.filter(action="payments.shift_close", actor=collector).count() == 1


def test_a_difference_needs_a_note_and_raises_an_alert(collector, house_a, bill, shift):
    take(collector, house_a, "k1", bills=[bill])
    # when: 100 元 short, without a note
    with pytest.raises(ValidationFailed) as refused:
        shift_close(shift=shift, counted={"cash": 50000 + BILL - 10000}, note=" ", by=collector)
    # then nothing changed
    assert "note" in refused.value.fields
    assert CounterShift.objects.get().status == "open"
    assert not PaymentAlert.objects.exists()
    # with a note it closes, short by 100 元, and finance is alerted
    closed = shift_close(
        shift=shift, counted={"cash": 50000 + BILL - 10000}, note="找零差错", by=collector
    )
    assert (closed.status, closed.difference_fen, closed.note) == ("closed", -10000, "找零差错")
    alert = PaymentAlert.objects.get()
    assert alert.kind == PaymentAlert.Kind.SHIFT_DIFFERENCE
    assert "短款" in alert.message
    assert alert.detail["differences"] == {"cash": -10000, "pos": 0, "transfer": 0}


def test_channels_that_offset_still_need_a_note(collector, house_a, bill, shift):
    take(collector, house_a, "k1", bills=[bill])
    # when: the cash was booked as POS — totals match, channels do not
    with pytest.raises(ValidationFailed):
        shift_close(shift=shift, counted={"cash": 50000, "pos": BILL}, by=collector)
    closed = shift_close(
        shift=shift, counted={"cash": 50000, "pos": BILL}, note="误记为刷卡", by=collector
    )
    assert closed.difference_fen == 0
    assert PaymentAlert.objects.get().kind == PaymentAlert.Kind.SHIFT_DIFFERENCE


def test_closing_twice_is_refused(collector, shift):
    shift_close(shift=shift, counted={"cash": 50000}, by=collector)
    with pytest.raises(Conflict) as refused:
        shift_close(shift=shift, counted={"cash": 0}, note="x", by=collector)
    assert refused.value.code == "shift_closed"
    assert CounterShift.objects.get().counted == {"cash": 50000, "pos": 0, "transfer": 0}


@pytest.mark.parametrize(
    "counted", [{"wechat_jsapi": 1}, {"cash": -1}, {"cash": 1.5}, {"cash": "100"}, [1]]
)
def test_bad_counts_are_refused(collector, shift, counted):
    with pytest.raises(ValidationFailed):
        shift_close(shift=shift, counted=counted, note="x", by=collector)
    assert CounterShift.objects.get().status == "open"


def test_another_collector_cannot_close_my_shift(shift):
    from heatdesk.accounts.roles import ROLE_COLLECTOR
    from heatdesk.testing import make_staff

    other = make_staff("collector2", ROLE_COLLECTOR)
    with pytest.raises(PermissionDenied):
        shift_close(shift=shift, counted={"cash": 50000}, by=other)
    assert CounterShift.objects.get().status == "open"


# --- Void ---------------------------------------------------------------------------------------


def test_supervisor_voids_and_the_bill_and_ledger_are_restored(
    collector, finance, house_a, bill, shift
):
    order = take(collector, house_a, "k1", bills=[bill])
    # when
    voided = counter_payment_void(order=order, supervisor=finance, reason="户号收错")
    # then
    assert voided.status == PaymentOrder.Status.VOIDED
    assert (voided.voided_by_id, voided.void_reason) == (finance.pk, "户号收错")
    assert voided.voided_at is not None
    assert bill_state(bill) == ("issued", BILL, 0)
    assert ledger_rows(house_a) == [
        ("charge", BILL, ""),
        ("payment", -BILL, "counter"),
        ("refund", BILL, "void"),
    ]
    assert LedgerEntry.objects.get(source="void").source_id == order.out_trade_no
    assert credit(house_a) == 0
    assert AuditEntry.objects.filter(
        action="payments.counter_payment_void", actor=finance, reason="户号收错"
    ).exists()
    # and the voided payment is not expected in the drawer
    closed = shift_close(shift=shift, counted={"cash": 50000}, by=collector)
    assert closed.expected["cash"] == 50000
    assert closed.difference_fen == 0


def test_a_voided_bill_can_be_paid_again(collector, finance, house_a, bill, shift):
    order = take(collector, house_a, "k1", bills=[bill])
    counter_payment_void(order=order, supervisor=finance, reason="金额错误")
    take(collector, house_a, "k2", bills=[bill])
    assert bill_state(bill) == ("paid", BILL, BILL)


def test_the_collector_cannot_void_own_payment(collector, house_a, bill, shift):
    # even holding the supervisor permission
    boss = grant(collector, "payments.void_counter_payment")
    order = take(boss, house_a, "k1", bills=[bill])
    with pytest.raises(PermissionDenied) as refused:
        counter_payment_void(order=order, supervisor=boss, reason="x")
    assert refused.value.code == "void_by_collector"
    assert PaymentOrder.objects.get().status == "paid"
    assert bill_state(bill) == ("paid", BILL, BILL)


def test_a_plain_collector_cannot_void(collector, house_a, bill, shift):
    from heatdesk.accounts.roles import ROLE_COLLECTOR
    from heatdesk.testing import make_staff

    order = take(collector, house_a, "k1", bills=[bill])
    other = make_staff("collector2", ROLE_COLLECTOR)
    with pytest.raises(PermissionDenied):
        counter_payment_void(order=order, supervisor=other, reason="x")
    assert PaymentOrder.objects.get().status == "paid"


def test_void_needs_a_reason(collector, finance, house_a, bill, shift):
    order = take(collector, house_a, "k1", bills=[bill])
    with pytest.raises(ValidationFailed):
        counter_payment_void(order=order, supervisor=finance, reason="  ")
    assert PaymentOrder.objects.get().status == "paid"
    assert bill_state(bill) == ("paid", BILL, BILL)


def test_no_void_after_the_shift_closed(collector, finance, house_a, bill, shift):
    order = take(collector, house_a, "k1", bills=[bill])
    shift_close(shift=shift, counted={"cash": 50000 + BILL}, by=collector)
    with pytest.raises(Conflict) as refused:
        counter_payment_void(order=order, supervisor=finance, reason="x")
    assert refused.value.code == "shift_closed"
    assert "退款" in refused.value.message
    assert PaymentOrder.objects.get().status == "paid"
    assert bill_state(bill) == ("paid", BILL, BILL)
    assert not LedgerEntry.objects.filter(source="void").exists()


def test_voiding_twice_is_refused(collector, finance, admin_user, house_a, bill, shift):
    order = take(collector, house_a, "k1", bills=[bill])
    counter_payment_void(order=order, supervisor=finance, reason="x")
    with pytest.raises(Conflict) as refused:
        counter_payment_void(order=order, supervisor=admin_user, reason="y")
    assert refused.value.code == "payment_not_voidable"
    assert LedgerEntry.objects.filter(source="void").count() == 1
    assert PaymentOrder.objects.get().voided_by_id == finance.pk


def test_void_of_a_prepayment_takes_the_credit_back(collector, finance, house_b, shift):
    order = take(collector, house_b, "k1", amount_fen=50000)
    assert credit(house_b) == 50000
    counter_payment_void(order=order, supervisor=finance, reason="重复录入")
    assert credit(house_b) == 0


def test_cash_refunds_paid_out_lower_the_expected_cash(collector, finance, agent, house_b, shift):
    from heatdesk.payments.services.refunds import (
        refund_approve,
        refund_cash_payout,
        refund_request,
    )

    # given: a prepayment of 500 元, 200 元 of it refunded in cash during the shift
    order = take(collector, house_b, "k1", amount_fen=50000)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=agent)
    refund_approve(refund=refund, by=finance)
    refund_cash_payout(refund=refund, collector=collector)
    # a refunded payment can no longer be voided
    with pytest.raises(Conflict) as refused:
        counter_payment_void(order=order, supervisor=finance, reason="x")
    assert refused.value.code == "payment_has_refunds"
    # then: the drawer should hold the float + 500 − 200
    with pytest.raises(ValidationFailed):
        shift_close(shift=shift, counted={"cash": 50000 + 50000}, by=collector)
    closed = shift_close(shift=shift, counted={"cash": 50000 + 30000}, by=collector)
    assert closed.expected == {"cash": 80000, "pos": 0, "transfer": 0}
    assert closed.difference_fen == 0
    assert credit(house_b) == 30000
