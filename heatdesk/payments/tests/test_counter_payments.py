"""Counter payments: cash, POS and transfer land on the ledger through the one settlement path;
partial payments and prepayments; an open shift is required; a double click records once."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import re

import pytest
import time_machine
from django.test import override_settings

from heatdesk.audit.models import AuditEntry
from heatdesk.billing.models import Allocation, BillLine, LedgerEntry
from heatdesk.core.errors import ApplicationError, Conflict, PermissionDenied, ValidationFailed
from heatdesk.payments.models import (
    CounterShift,
    PaymentAlert,
    PaymentOrder,
    PaymentOrderItem,
    Refund,
)
from heatdesk.payments.services.counter import counter_payment_record
from heatdesk.payments.services.counter_shifts import shift_close
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    at,
    bill,
    bill_state,
    credit,
    ledger_rows,
    on_nov_20,
    shift,
)

pytestmark = pytest.mark.django_db


def record(collector, house, **kwargs):
    kwargs.setdefault("channel", "cash")
    kwargs.setdefault("idempotency_key", "click-1")
    return counter_payment_record(collector=collector, house=house, **kwargs)


def test_cash_payment_settles_the_bill_and_mints_a_receipt(collector, house_a, bill, shift):
    # when
    order = record(collector, house_a, bills=[bill])
    # then
    assert order.status == PaymentOrder.Status.PAID
    assert (order.provider, order.channel, order.amount_fen, order.paid_fen) == (
        "counter",
        "cash",
        BILL,
        BILL,
    )
    assert re.fullmatch(r"20261120-[0-9A-Z]{6}", order.receipt_no)
    assert order.transaction_id == order.receipt_no
    assert (order.collector_id, order.shift_id) == (collector.pk, shift.pk)
    assert bill_state(bill) == ("paid", BILL, BILL)
    assert ledger_rows(house_a) == [("charge", BILL, ""), ("payment", -BILL, "counter")]
    payment = LedgerEntry.objects.get(kind="payment")
    assert payment.source_id == order.out_trade_no
    assert list(Allocation.objects.filter(entry=payment).values_list("bill_id", "amount_fen")) == [
        (bill.pk, BILL)
    ]
    assert AuditEntry.objects.filter(
        action="payments.counter_payment_record", object_id=str(order.pk), actor=collector
    ).exists()


@pytest.mark.parametrize("channel", ["pos", "transfer"])
def test_pos_and_transfer_need_a_reference(collector, house_a, bill, shift, channel):
    # when
    with pytest.raises(ValidationFailed) as refused:
        record(collector, house_a, bills=[bill], channel=channel)
    # then nothing changed
    assert "reference" in refused.value.fields
    assert not PaymentOrder.objects.exists()
    assert bill_state(bill) == ("issued", BILL, 0)
    # and with the reference it is taken
    order = record(collector, house_a, bills=[bill], channel=channel, reference=" 000123456789 ")
    assert (order.channel, order.counter_reference, order.status) == (
        channel,
        "000123456789",
        "paid",
    )
    assert bill_state(bill) == ("paid", BILL, BILL)


def test_whole_house_when_no_bill_is_chosen(collector, house_a, bill, shift):
    order = record(collector, house_a)
    assert order.amount_fen == BILL
    assert list(PaymentOrderItem.objects.values_list("bill_id", "amount_fen")) == [(None, BILL)]
    assert bill_state(bill) == ("paid", BILL, BILL)
    assert credit(house_a) == 0


def test_partial_payment_leaves_the_bill_partly_paid(collector, house_a, bill, shift):
    order = record(collector, house_a, bills=[bill], amount_fen=100000)
    assert order.amount_fen == 100000
    assert list(PaymentOrderItem.objects.values_list("bill_id", "amount_fen")) == [
        (bill.pk, 100000)
    ]
    assert bill_state(bill) == ("partially_paid", BILL, 100000)
    assert credit(house_a) == 0


def test_prepayment_beyond_the_bill_becomes_credit(collector, house_a, bill, shift):
    order = record(collector, house_a, bills=[bill], amount_fen=BILL + 76250)
    assert sorted(
        PaymentOrderItem.objects.filter(order=order).values_list("amount_fen", flat=True)
    ) == [76250, BILL]
    assert bill_state(bill) == ("paid", BILL, BILL)
    assert credit(house_a) == 76250
    # a prepayment is meant: no double-payment excess, alert or automatic refund
    order.refresh_from_db()
    assert order.excess_fen == 0
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.DOUBLE_PAYMENT).exists()
    assert not Refund.objects.exists()


def test_prepayment_for_a_house_that_owes_nothing(collector, house_b, shift):
    # A house without bills: without an amount there is nothing to take.
    with pytest.raises(Conflict) as refused:
        record(collector, house_b)
    assert refused.value.code == "nothing_to_pay"
    assert not PaymentOrder.objects.exists()
    # with an amount it is a prepayment
    with override_settings(PAYMENTS_DOUBLE_PAYMENT="refund"):
        order = record(collector, house_b, amount_fen=50000, idempotency_key="click-2")
    assert credit(house_b) == 50000
    assert order.excess_fen == 0
    assert not PaymentAlert.objects.exists()
    assert not Refund.objects.exists()


def test_the_late_fee_as_of_today_is_charged_and_fixed(collector, house_a, bill):
    # given: a month after the due date
    with time_machine.travel(at(2027, 1, 31), tick=False):
        from heatdesk.payments.services.counter_shifts import shift_open

        shift_open(collector=collector)
        order = record(collector, house_a, bills=[bill])
    # then: 31 days (1–31 Jan) × 2‰ × 2,237.50 元 = 138.725 → 138.73 元, half up
    late = 13873
    assert order.amount_fen == BILL + late
    item = PaymentOrderItem.objects.get(order=order)
    assert (item.amount_fen, item.late_fee_fen) == (BILL + late, late)
    assert bill_state(bill) == ("paid", BILL + late, BILL + late)
    assert BillLine.objects.filter(bill=bill, kind="late_fee", amount_fen=late).exists()


def test_no_open_shift_is_refused_and_changes_nothing(collector, house_a, bill):
    with pytest.raises(Conflict) as refused:
        record(collector, house_a, bills=[bill])
    assert refused.value.code == "no_open_shift"
    assert not PaymentOrder.objects.exists()
    assert ledger_rows(house_a) == [("charge", BILL, "")]
    assert bill_state(bill) == ("issued", BILL, 0)


def test_a_closed_shift_takes_no_more_payments(collector, house_a, bill, shift):
    shift_close(shift=shift, counted={"cash": 50000}, by=collector)
    with pytest.raises(Conflict) as refused:
        record(collector, house_a, bills=[bill])
    assert refused.value.code == "no_open_shift"
    assert not PaymentOrder.objects.exists()
    assert bill_state(bill) == ("issued", BILL, 0)


def test_double_click_records_once(collector, house_a, bill, shift):
    first = record(collector, house_a, bills=[bill])
    again = record(collector, house_a, bills=[bill])
    assert again.pk == first.pk
    assert again.receipt_no == first.receipt_no
    assert PaymentOrder.objects.count() == 1
    assert ledger_rows(house_a) == [("charge", BILL, ""), ("payment", -BILL, "counter")]


def test_the_same_key_for_another_payment_is_refused(collector, house_a, bill, shift):
    record(collector, house_a, bills=[bill], amount_fen=1000)
    with pytest.raises(Conflict) as refused:
        record(collector, house_a, bills=[bill], amount_fen=2000)
    assert refused.value.code == "idempotency_key_reused"
    assert PaymentOrder.objects.count() == 1
    assert bill_state(bill) == ("partially_paid", BILL, 1000)


def test_keys_are_per_collector(collector, house_a, bill, shift):
    from heatdesk.accounts.roles import ROLE_COLLECTOR
    from heatdesk.payments.services.counter_shifts import shift_open
    from heatdesk.testing import make_staff

    other = make_staff("collector2", ROLE_COLLECTOR)
    shift_open(collector=other)
    a = record(collector, house_a, bills=[bill], amount_fen=1000)
    b = record(other, house_a, bills=[bill], amount_fen=1000)
    assert a.pk != b.pk
    assert bill_state(bill) == ("partially_paid", BILL, 2000)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"channel": "wechat_jsapi"}, "channel"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -5}, "amount_fen"),
        ({"amount_fen": 1.5}, "amount_fen"),
        ({"reference": "x" * 65, "channel": "pos"}, "reference"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(collector, house_a, bill, shift, kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        record(collector, house_a, bills=[bill], **kwargs)
    assert field in refused.value.fields
    assert not PaymentOrder.objects.exists()
    assert bill_state(bill) == ("issued", BILL, 0)


def test_a_bill_of_another_house_is_refused(collector, house_a, house_b, bill, shift):
    with pytest.raises(ValidationFailed) as refused:
        record(collector, house_b, bills=[bill])
    assert "bill_ids" in refused.value.fields
    assert not PaymentOrder.objects.exists()


def test_a_paid_bill_cannot_be_chosen_again(collector, house_a, bill, shift):
    record(collector, house_a, bills=[bill])
    with pytest.raises(Conflict) as refused:
        record(collector, house_a, bills=[bill], idempotency_key="click-2")
    assert refused.value.code == "bill_not_payable"
    assert PaymentOrder.objects.count() == 1


def test_key_is_required(collector, house_a, bill, shift):
    with pytest.raises(ApplicationError) as refused:
        record(collector, house_a, bills=[bill], idempotency_key="  ")
    assert refused.value.code == "idempotency_key_required"
    assert not PaymentOrder.objects.exists()


def test_only_collectors_take_payments(agent, house_a, bill, shift):
    with pytest.raises(PermissionDenied):
        record(agent, house_a, bills=[bill])
    assert not PaymentOrder.objects.exists()
    assert CounterShift.objects.count() == 1
