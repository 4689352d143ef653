"""Refunds against the simulated WeChat Pay and Alipay over real HTTP: request, approval by
another person, the provider call, query and notify, and the billing ledger following."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services as billing
from heatdesk.billing.models import Bill
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from heatdesk.payments.models import PaymentAlert, Provider, Refund
from heatdesk.payments.services import refunds
from heatdesk.payments.services.counter_shifts import shift_open
from heatdesk.payments.tests.support_refunds import (  # noqa: F401 - fixtures
    money_state,
    paid_order,
    refund_notifies,
    sim,
)
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentRefund
from heatdesk.sandbox.wechatpay.services import refund_settle as wechat_refund_settle

BILL = 223750  # 89.50㎡ × 25.00
S = Refund.Status
pytestmark = pytest.mark.usefixtures("sim")


@pytest.fixture
def bill(house_a, finance):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    return billing.bill_issue(house=house_a, season=season, issued_by=finance)


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def request(order, amount, by, reason="用户申请退费"):
    return refunds.refund_request(order=order, amount_fen=amount, reason=reason, by=by)


# --- WeChat Pay ---------------------------------------------------------------------------------


def test_a_full_wechat_refund_reopens_the_bill_once(bill, house_a, agent, finance, receiver):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    assert fresh(bill).status == "paid"
    # given a request by an agent
    refund = request(order, BILL, agent)
    assert (refund.status, refund.provider_request) == (S.REQUESTED, "")
    # when finance approves it (the simulator answers PROCESSING, then succeeds and notifies)
    approved = refunds.refund_approve(refund=refund, by=finance)
    assert approved.status == S.PROCESSING
    assert approved.decided_by_id == finance.pk
    (notify,) = refund_notifies(receiver, count=1)
    refunds.refund_apply_notify(notify)
    refunds.refund_apply_notify(notify)  # a redelivery changes nothing
    # then the refund succeeded and the ledger took the money back exactly once
    done = fresh(refund)
    assert (done.status, done.provider_refund_id != "") == (S.SUCCEEDED, True)
    state = money_state(house_a)
    assert state["bills"] == [("issued", 0)]
    assert (state["owed"], state["credit"]) == (BILL, 0)
    assert state["refunds"] == [(refund.out_refund_no, BILL)]
    assert SandboxPaymentRefund.objects.get(out_refund_no=refund.out_refund_no).amount_fen == BILL
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"payments.refund_request", "payments.refund_approve", "billing.payment_reverse"} <= (
        actions
    )


def test_partial_refunds_sum_exactly_to_the_total_and_no_further(
    bill, house_a, agent, finance, receiver
):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    amounts = [100000, 100000, BILL - 200000]
    for amount in amounts:
        refunds.refund_approve(refund=request(order, amount, agent), by=finance)
    for notify in refund_notifies(receiver, count=3):
        refunds.refund_apply_notify(notify)
    assert sorted(Refund.objects.values_list("status", "amount_fen")) == sorted(
        (S.SUCCEEDED, a) for a in amounts
    )
    assert money_state(house_a)["bills"] == [("issued", 0)]
    assert money_state(house_a)["owed"] == BILL
    before = money_state(house_a)
    # when one more fen is asked for: refused locally, before any provider call
    with pytest.raises(Conflict) as refused:
        request(order, 1, agent)
    assert refused.value.code == "refund_exceeds_paid"
    assert Refund.objects.count() == 3
    assert SandboxPaymentRefund.objects.count() == 3
    assert money_state(house_a) == before


def test_an_over_refund_is_refused_before_the_provider_and_changes_nothing(
    bill, house_a, agent, finance
):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    held = request(order, BILL - 100, agent)  # requested: already counts
    before = money_state(house_a)
    with pytest.raises(Conflict) as refused:
        request(order, 101, agent)
    assert refused.value.code == "refund_exceeds_paid"
    assert list(Refund.objects.values_list("pk", flat=True)) == [held.pk]
    assert not SandboxPaymentRefund.objects.exists()
    assert money_state(house_a) == before
    # bad input is refused too
    with pytest.raises(ValidationFailed):
        request(order, 0, agent)
    with pytest.raises(ValidationFailed):
        request(order, 100, agent, reason="  ")
    assert Refund.objects.count() == 1


def test_the_requester_cannot_approve_and_only_finance_may(bill, agent, finance, receiver):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    own = request(order, 1000, finance)
    with pytest.raises(Conflict) as same:
        refunds.refund_approve(refund=own, by=finance)
    assert same.value.code == "refund_same_person"
    other = request(order, 1000, finance)
    with pytest.raises(PermissionDenied):
        refunds.refund_approve(refund=other, by=agent)
    assert set(Refund.objects.values_list("status", flat=True)) == {S.REQUESTED}
    assert not SandboxPaymentRefund.objects.exists()


def test_a_rejected_request_frees_its_amount(bill, agent, finance):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    refund = request(order, BILL, agent)
    with pytest.raises(ValidationFailed):
        refunds.refund_reject(refund=refund, by=finance, note="")
    rejected = refunds.refund_reject(refund=refund, by=finance, note="已与用户核实，无需退款")
    assert (rejected.status, rejected.decision_note) == (S.REJECTED, "已与用户核实，无需退款")
    with pytest.raises(Conflict) as again:
        refunds.refund_approve(refund=rejected, by=finance)
    assert again.value.code == "refund_not_pending"
    assert request(order, BILL, agent).status == S.REQUESTED
    assert not SandboxPaymentRefund.objects.exists()


def test_processing_then_success_by_notify(bill, house_a, agent, finance, receiver):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    knobs_set(out_trade_no=order.out_trade_no, refund_processing=True)
    refund = refunds.refund_approve(refund=request(order, 50000, agent), by=finance)
    # a query while processing keeps it processing, and the ledger untouched
    assert refunds.refund_sync(refund).status == S.PROCESSING
    assert money_state(house_a)["refunds"] == []
    # when the provider finishes and notifies
    sim_refund = SandboxPaymentRefund.objects.get(out_refund_no=refund.out_refund_no)
    wechat_refund_settle(refund_id=sim_refund.id, status="SUCCESS")
    (notify,) = refund_notifies(receiver, count=1)
    refunds.refund_apply_notify(notify)
    # then
    assert fresh(refund).status == S.SUCCEEDED
    state = money_state(house_a)
    assert state["bills"] == [("partially_paid", BILL - 50000)]
    assert state["refunds"] == [(refund.out_refund_no, 50000)]


def test_processing_then_abnormal_goes_to_a_person(bill, house_a, agent, finance, receiver):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    knobs_set(out_trade_no=order.out_trade_no, refund_processing=True)
    refund = refunds.refund_approve(refund=request(order, 50000, agent), by=finance)
    before = money_state(house_a)
    sim_refund = SandboxPaymentRefund.objects.get(out_refund_no=refund.out_refund_no)
    wechat_refund_settle(refund_id=sim_refund.id, status="ABNORMAL")
    (notify,) = refund_notifies(receiver, count=1)
    refunds.refund_apply_notify(notify)
    row = fresh(refund)
    assert (row.status, row.needs_attention) == (S.ABNORMAL, True)
    alert = PaymentAlert.objects.get(kind=PaymentAlert.Kind.REFUND_ABNORMAL)
    assert alert.out_trade_no == order.out_trade_no
    assert money_state(house_a) == before  # no money moved
    # the amount stays held: nothing more than the rest may be requested
    with pytest.raises(Conflict):
        request(order, BILL - 50000 + 1, agent)


def test_a_closed_refund_may_be_issued_again_under_a_new_number(
    bill, house_a, agent, finance, receiver
):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    knobs_set(out_trade_no=order.out_trade_no, refund_processing=True)
    first = refunds.refund_approve(refund=request(order, BILL, agent), by=finance)
    sim_refund = SandboxPaymentRefund.objects.get(out_refund_no=first.out_refund_no)
    wechat_refund_settle(refund_id=sim_refund.id, status="CLOSED")
    # the notify is lost; the query finds it closed
    assert refunds.refund_sync(first).status == S.CLOSED
    assert money_state(house_a)["refunds"] == []
    # when the same amount is requested again
    knobs_set(out_trade_no=order.out_trade_no, refund_processing=None)
    second = refunds.refund_approve(refund=request(order, BILL, agent), by=finance)
    # then it carries a new number and succeeds
    assert second.out_refund_no != first.out_refund_no
    notifies = refund_notifies(receiver, count=2)
    for notify in notifies:
        refunds.refund_apply_notify(notify)
    assert refunds.refund_sync(second).status == S.SUCCEEDED
    assert fresh(first).status == S.CLOSED  # never moves back
    assert money_state(house_a)["refunds"] == [(second.out_refund_no, BILL)]


def test_the_51st_wechat_refund_and_one_after_a_year_are_refused(bill, agent, finance):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    for _ in range(50):
        request(order, 1, agent)
    with pytest.raises(Conflict) as limit:
        request(order, 1, agent)
    assert limit.value.code == "refund_limit_reached"
    assert Refund.objects.count() == 50
    Refund.objects.update(status=S.REJECTED)
    later = clock.now() + dt.timedelta(days=366)
    with time_machine.travel(later, tick=False), pytest.raises(Conflict) as late:
        request(order, 1, agent)
    assert late.value.code == "refund_window_passed"
    assert Refund.objects.count() == 50


def test_only_a_paid_order_may_be_refunded(bill, agent):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    type(order).objects.filter(pk=order.pk).update(status="voided")
    with pytest.raises(Conflict) as refused:
        request(fresh(order), 100, agent)
    assert refused.value.code == "refund_order_not_paid"
    assert not Refund.objects.exists()


# --- Alipay -------------------------------------------------------------------------------------


def test_an_alipay_refund_succeeds_synchronously(bill, house_a, agent, finance, receiver):
    order = paid_order(provider=Provider.ALIPAY, bill=bill)
    refund = refunds.refund_approve(refund=request(order, 30000, agent), by=finance)
    assert refund.status == S.SUCCEEDED
    # its notify (cumulative refund_fee) changes nothing more
    (notify,) = refund_notifies(receiver, count=1)
    refunds.refund_apply_notify(notify)
    assert money_state(house_a)["refunds"] == [(refund.out_refund_no, 30000)]
    assert money_state(house_a)["bills"] == [("partially_paid", BILL - 30000)]


def test_alipay_fund_change_n_is_confirmed_by_the_refund_query(
    bill, house_a, agent, finance, receiver
):
    order = paid_order(provider=Provider.ALIPAY, bill=bill)
    knobs_set(out_trade_no=order.out_trade_no, refund_processing=True)
    # the refund answers fund_change=N and the query has no REFUND_SUCCESS yet: not a failure
    refund = refunds.refund_approve(refund=request(order, BILL, agent), by=finance)
    assert refund.status == S.PROCESSING
    assert money_state(house_a)["refunds"] == []
    # when the provider finishes it, a replay still says fund_change=N; the query confirms
    from heatdesk.sandbox.alipay.services import refund_settle as alipay_refund_settle

    alipay_refund_settle(
        refund_id=SandboxPaymentRefund.objects.get(out_refund_no=refund.out_refund_no).id
    )
    Refund.objects.filter(pk=refund.pk).update(status=S.UNKNOWN)  # as after a lost answer
    synced = refunds.refund_sync(refund)
    assert synced.status == S.SUCCEEDED
    assert SandboxPaymentRefund.objects.filter(order__out_trade_no=order.out_trade_no).count() == 1
    assert money_state(house_a)["refunds"] == [(refund.out_refund_no, BILL)]
    assert money_state(house_a)["bills"] == [("issued", 0)]


# --- Counter ------------------------------------------------------------------------------------


def test_an_approved_counter_refund_waits_for_the_counter_with_nothing_posted(
    bill, house_a, collector, agent, finance
):
    order = paid_order(provider=Provider.COUNTER, bill=bill, collector=collector)
    # (requested by an agent: who asks for a refund does not also hand the money over)
    refund = request(order, 1000, agent)
    before = money_state(house_a)
    approved = refunds.refund_approve(refund=refund, by=finance)
    assert (approved.status, approved.succeeded_at, approved.paid_out_shift_id) == (
        S.PROCESSING,
        None,
        None,
    )
    assert approved.status_label() == "待柜台付款"
    assert (approved.decided_by_id, approved.provider_request) == (finance.pk, "")
    assert money_state(house_a) == before  # no money has left a drawer yet
    assert fresh(bill).status == Bill.Status.PAID
    # the provider follow-up leaves it alone: only a collector's payout moves it
    assert refunds.refund_sync(approved).status == S.PROCESSING
    # then a collector pays it out of an open shift
    shift = shift_open(collector=collector, opening_float_fen=0)
    done = refunds.refund_cash_payout(refund=approved, collector=collector)
    assert (done.status, done.paid_out_shift_id) == (S.SUCCEEDED, shift.pk)
    assert money_state(house_a)["refunds"] == [(refund.out_refund_no, 1000)]
    assert fresh(bill).status == Bill.Status.PARTIALLY_PAID


# --- Lost answers -------------------------------------------------------------------------------


@pytest.fixture
def answer_lost(live_server):
    """A hop in front of the simulator that delivers each request and then drops the
    connection without the answer: the provider acted, the caller cannot know."""
    import contextlib
    import http.server
    import threading
    import urllib.request

    class Hop(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(  # noqa: S310 - the live test server
                f"{live_server.url}{self.path}", data=body, method=self.command, headers=headers
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10).read()  # noqa: S310
            self.close_connection = True  # and no answer at all

        do_GET = do_POST = _forward  # noqa: N815

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_lost_answer_is_unknown_and_the_replay_refunds_once(
    bill, house_a, agent, finance, receiver, answer_lost, payment_settings, live_server
):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    refund = request(order, 80000, agent)
    # when the refund call's answer is lost on the way back
    payment_settings.WECHATPAY_BASE_URL = f"{answer_lost}/sandbox/wechatpay"
    lost = refunds.refund_approve(refund=refund, by=finance)
    # then the refund is UNKNOWN (not failed), though the provider has it
    assert lost.status == S.UNKNOWN
    assert SandboxPaymentRefund.objects.filter(out_refund_no=refund.out_refund_no).count() == 1
    assert money_state(house_a)["refunds"] == []
    request_sent = lost.provider_request
    # when it is synced once the line is back: the same request is replayed
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    synced = refunds.refund_sync(lost)
    # then the provider refunded once, and the ledger followed once
    assert synced.status == S.SUCCEEDED
    assert synced.provider_request == request_sent
    assert SandboxPaymentRefund.objects.filter(order__out_trade_no=order.out_trade_no).count() == 1
    for notify in refund_notifies(receiver, count=1):
        refunds.refund_apply_notify(notify)
    assert refunds.refund_sync(synced).status == S.SUCCEEDED
    state = money_state(house_a)
    assert state["refunds"] == [(refund.out_refund_no, 80000)]
    assert state["bills"] == [("partially_paid", BILL - 80000)]
    assert state["owed"] == 80000


# --- Automatic refunds and notifies we cannot place ---------------------------------------------


def test_a_bill_paid_twice_refunds_the_second_payment_automatically(
    bill, house_a, payment_settings, receiver
):
    payment_settings.PAYMENTS_DOUBLE_PAYMENT = "refund"
    paid_order(provider=Provider.WECHATPAY, bill=bill)
    # when a second order for the same bill is paid too
    second = paid_order(provider=Provider.WECHATPAY, bill=bill)
    # then its whole amount is refunded without approval, audited as the system
    refund = Refund.objects.get(order=second)
    assert (refund.automatic, refund.requested_by_id, refund.amount_fen) == (True, None, BILL)
    for notify in refund_notifies(receiver, count=1):
        refunds.refund_apply_notify(notify)
    assert refunds.refund_sync(refund).status == S.SUCCEEDED
    state = money_state(house_a)
    assert state["bills"] == [("paid", BILL)]  # the first payment still pays the bill
    assert (state["credit"], state["owed"]) == (0, 0)
    assert state["refunds"] == [(refund.out_refund_no, BILL)]
    audit = AuditEntry.objects.get(action="payments.refund_automatic")
    assert audit.actor_id is None


def test_a_notify_for_a_refund_we_do_not_know_is_not_acknowledged(bill, agent, finance, receiver):
    order = paid_order(provider=Provider.WECHATPAY, bill=bill)
    refund = refunds.refund_approve(refund=request(order, 100, agent), by=finance)
    (notify,) = refund_notifies(receiver, count=1)
    from dataclasses import replace

    from heatdesk.core.errors import NotFound

    stranger = replace(notify, out_refund_no="RF-NOT-OURS")
    with pytest.raises(NotFound) as refused:
        refunds.refund_apply_notify(stranger)
    assert refused.value.code == "refund_not_found"
    assert fresh(refund).status == S.PROCESSING
