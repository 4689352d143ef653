"""Paying a counter refund out (柜台退款付款): finance's approval leaves it waiting; a collector
pays it from an open shift, through the order's channel, lowering exactly that shift's expected
amount; every refusal changes nothing. Service and staff API."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import pytest

from heatdesk.accounts.roles import ROLE_COLLECTOR
from heatdesk.accounts.services import token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.billing.models import Bill
from heatdesk.core.errors import Conflict, PermissionDenied
from heatdesk.payments.counter_selectors import refunds_awaiting_payout, shift_expected
from heatdesk.payments.models import CounterShift, Provider, Refund
from heatdesk.payments.services.counter import counter_payment_record
from heatdesk.payments.services.counter_shifts import shift_close, shift_open
from heatdesk.payments.services.refunds import (
    refund_approve,
    refund_cash_payout,
    refund_request,
)
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    bill_state,
    ledger_rows,
    on_nov_20,
    shift,
)
from heatdesk.payments.tests.support_refunds import paid_order, sim  # noqa: F401 - fixture
from heatdesk.testing import ApiClient, make_staff

pytestmark = pytest.mark.django_db
FLOAT = 50000


def take(collector, house, bill, channel="cash"):
    return counter_payment_record(
        collector=collector,
        house=house,
        bills=[bill],
        channel=channel,
        idempotency_key=f"k-{channel}",
        reference="POS-778" if channel != "cash" else "",
    )


def approved(order, requester, finance, amount=20000):
    refund = refund_request(order=order, amount_fen=amount, reason="多缴退还", by=requester)
    return refund_approve(refund=refund, by=finance)


def state(refund, house, bill):
    row = Refund.objects.get(pk=refund.pk)
    return (
        row.status,
        row.paid_out_shift_id,
        row.succeeded_at,
        bill_state(bill),
        ledger_rows(house),
        AuditEntry.objects.filter(action="payments.refund_payout").count(),
    )


def test_a_cash_payout_lowers_this_shift_by_exactly_the_refund(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    assert refund.status == Refund.Status.PROCESSING
    assert list(refunds_awaiting_payout()) == [refund]
    assert shift_expected(shift=shift)["cash"] == FLOAT + BILL

    done = refund_cash_payout(refund=refund, collector=collector)

    assert (done.status, done.paid_out_shift_id) == (Refund.Status.SUCCEEDED, shift.pk)
    assert done.succeeded_at is not None
    assert shift_expected(shift=shift) == {"cash": FLOAT + BILL - 20000, "pos": 0, "transfer": 0}
    assert bill_state(bill) == (Bill.Status.PARTIALLY_PAID, BILL, BILL - 20000)
    assert ledger_rows(house_a)[-1] == ("refund", 20000, "refund")
    audit = AuditEntry.objects.get(action="payments.refund_payout")
    assert (audit.actor_id, audit.after["shift"], audit.after["channel"]) == (
        collector.pk,
        shift.public_id,
        "cash",
    )
    assert list(refunds_awaiting_payout()) == []
    # the close with the refund paid out balances
    closed = shift_close(shift=shift, counted={"cash": FLOAT + BILL - 20000}, by=collector)
    assert (closed.difference_fen, closed.expected["cash"]) == (0, FLOAT + BILL - 20000)


def test_a_pos_refund_goes_back_through_the_pos_channel(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill, channel="pos")
    refund = approved(order, agent, finance, amount=BILL)
    refund_cash_payout(refund=refund, collector=collector)
    assert shift_expected(shift=shift) == {"cash": FLOAT, "pos": 0, "transfer": 0}
    assert bill_state(bill) == (Bill.Status.ISSUED, BILL, 0)
    closed = shift_close(shift=shift, counted={"cash": FLOAT, "pos": 0}, by=collector)
    assert closed.difference_fen == 0


def test_no_open_shift_is_refused_and_changes_nothing(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    shift_close(shift=shift, counted={"cash": FLOAT + BILL}, by=collector)
    before = state(refund, house_a, bill)
    with pytest.raises(Conflict) as refused:
        refund_cash_payout(refund=refund, collector=collector)
    assert refused.value.code == "no_open_shift"
    assert state(refund, house_a, bill) == before
    assert CounterShift.objects.get(pk=shift.pk).expected["cash"] == FLOAT + BILL


def test_a_refund_paid_out_twice_is_refused_the_second_time(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    refund_cash_payout(refund=refund, collector=collector)
    before = state(refund, house_a, bill)
    with pytest.raises(Conflict) as refused:
        refund_cash_payout(refund=refund, collector=collector)
    assert refused.value.code == "refund_already_paid_out"
    assert state(refund, house_a, bill) == before
    assert shift_expected(shift=shift)["cash"] == FLOAT + BILL - 20000


def test_a_refund_not_approved_is_refused(collector, finance, agent, house_a, bill, shift):
    order = take(collector, house_a, bill)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=agent)
    before = state(refund, house_a, bill)
    with pytest.raises(Conflict) as refused:
        refund_cash_payout(refund=refund, collector=collector)
    assert refused.value.code == "refund_not_approved"
    assert state(refund, house_a, bill) == before
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.REQUESTED


def test_an_online_refund_is_refused_at_the_counter(sim, collector, finance, house_a, bill, shift):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=collector)
    before = state(refund, house_a, bill)
    with pytest.raises(Conflict) as refused:
        refund_cash_payout(refund=refund, collector=collector)
    assert refused.value.code == "refund_not_counter"
    assert state(refund, house_a, bill) == before


def test_staff_without_the_counter_permission_cannot_pay_out(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    before = state(refund, house_a, bill)
    with pytest.raises(PermissionDenied):
        refund_cash_payout(refund=refund, collector=agent)
    assert state(refund, house_a, bill) == before


def test_the_counter_api_lists_and_pays_out(collector, finance, agent, house_a, bill, shift):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    desk = ApiClient(token_issue(user=collector))
    listed = desk.get("payments/counter/refunds")
    assert listed.status_code == 200
    assert [(r["public_id"], r["status_display"]) for r in listed.json()] == [
        (refund.public_id, "待柜台付款")
    ]
    # refused: an agent, an unknown refund
    outsider = ApiClient(token_issue(user=agent))
    denied = outsider.post(f"payments/counter/refunds/{refund.public_id}/payout")
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    missing = desk.post("payments/counter/refunds/rf_nope/payout")
    assert (missing.status_code, missing.json()["code"]) == (404, "refund_not_found")
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.PROCESSING

    paid = desk.post(f"payments/counter/refunds/{refund.public_id}/payout")

    assert paid.status_code == 200
    body = paid.json()
    assert (body["status"], body["paid_out_shift"]) == ("succeeded", shift.public_id)
    assert desk.get("payments/counter/shifts/current").json()["expected"]["cash"] == (
        FLOAT + BILL - 20000
    )
    again = desk.post(f"payments/counter/refunds/{refund.public_id}/payout")
    assert (again.status_code, again.json()["code"]) == (409, "refund_already_paid_out")
    assert desk.get("payments/counter/refunds").json() == []
    assert bill_state(bill) == (Bill.Status.PARTIALLY_PAID, BILL, BILL - 20000)


def test_a_payout_after_the_close_needs_a_new_shift(
    collector, finance, agent, house_a, bill, shift
):
    order = take(collector, house_a, bill)
    refund = approved(order, agent, finance)
    shift_close(shift=shift, counted={"cash": FLOAT + BILL}, by=collector)
    later = shift_open(collector=collector, opening_float_fen=FLOAT)
    done = refund_cash_payout(refund=refund, collector=collector)
    assert done.paid_out_shift_id == later.pk
    assert shift_expected(shift=later)["cash"] == FLOAT - 20000
    assert CounterShift.objects.get(pk=shift.pk).expected["cash"] == FLOAT + BILL


def test_the_collector_who_requested_a_refund_cannot_pay_it_out(
    collector, finance, house_a, bill, shift
):
    # given: the collector took the payment and asked for the refund, finance approved it
    order = take(collector, house_a, bill)
    refund = approved(order, collector, finance)
    before = state(refund, house_a, bill)
    # when the same collector pays it out
    with pytest.raises(Conflict) as refused:
        refund_cash_payout(refund=refund, collector=collector)
    # then: refused, nothing changed, still waiting for another collector
    assert refused.value.code == "refund_payout_same_person"
    assert state(refund, house_a, bill) == before
    assert shift_expected(shift=shift)["cash"] == FLOAT + BILL
    assert list(refunds_awaiting_payout()) == [refund]
    # and another collector, from their own open shift, may
    other = make_staff("collector2", ROLE_COLLECTOR)
    other_shift = shift_open(collector=other)
    done = refund_cash_payout(refund=refund, collector=other)
    assert (done.status, done.paid_out_shift_id) == (Refund.Status.SUCCEEDED, other_shift.pk)
