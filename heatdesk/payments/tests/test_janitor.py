"""The payments janitor against the WeChat Pay simulator (over HTTP): lost notifies recovered,
unclear answers kept, backoff used up into the manual queue, expired orders closed."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from heatdesk.billing.models import Bill
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Refund
from heatdesk.payments.services.janitor import janitor_run
from heatdesk.payments.tests.reconciliation_support import *  # noqa: F403 - fixtures
from heatdesk.payments.tests.reconciliation_support import (
    FEN,
    beijing,
    bill_of,
    ledger_payments,
    order_for_new_bill,
    paid_order,
    pay_at_cashier,
)
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder

pytestmark = pytest.mark.django_db(transaction=True)

START = beijing(2026, 11, 23, 12, 0)
DEAD_URL = "http://127.0.0.1:9/sandbox/wechatpay"  # nothing listens: every query errors


@pytest.fixture
def backoff(settings):
    settings.PAYMENTS_JANITOR_BACKOFF_SECONDS = [10, 30, 60]
    return settings


def later(seconds):
    return time_machine.travel(START + dt.timedelta(seconds=seconds), tick=True)


def test_a_lost_notify_is_recovered_by_the_janitor(sims, backoff, resident, season, tariff):
    # given an order paid at the provider whose notify never reached us
    with time_machine.travel(START, tick=True):
        order = order_for_new_bill(payer=resident, season=season)
        pay_at_cashier(order)
        # when the janitor runs before the first check is due, it leaves the order alone
        assert janitor_run().checked_orders == []
    assert PaymentOrder.objects.get(pk=order.pk).status == PaymentOrder.Status.PENDING
    # when it runs after the first backoff step
    with later(15):
        run = janitor_run()
    # then the order is queried, settled once, and no longer watched
    assert run.checked_orders == [order.out_trade_no]
    fresh = PaymentOrder.objects.get(pk=order.pk)
    assert (fresh.status, fresh.paid_fen, fresh.next_check_at) == ("paid", FEN, None)
    assert fresh.check_attempts == 1
    assert ledger_payments(order) == [("wechatpay", -FEN)]
    assert bill_of(order).status == Bill.Status.PAID
    with later(600):
        assert janitor_run().checked_orders == []
    assert ledger_payments(order) == [("wechatpay", -FEN)]


def test_query_errors_keep_unknown_until_the_schedule_is_used_up_then_a_person_is_asked(
    sims, backoff, resident, season, tariff
):
    # given an order whose create answered 500 after the provider committed it: UNKNOWN
    knobs_set(fail_after_create=True)
    with time_machine.travel(START, tick=True):
        from heatdesk.payments.services.orders import order_prepare
        from heatdesk.payments.tests.reconciliation_support import order_create_only

        order = order_create_only(payer=resident, season=season)
        assert order_prepare(order) is None
    order = PaymentOrder.objects.get(pk=order.pk)
    assert order.status == PaymentOrder.Status.UNKNOWN
    # when every query fails (the provider cannot be reached)
    backoff.WECHATPAY_BASE_URL = DEAD_URL
    seen = []
    for seconds in (15, 50, 120):
        with later(seconds):
            janitor_run()
        fresh = PaymentOrder.objects.get(pk=order.pk)
        seen.append((fresh.status, fresh.check_attempts, fresh.needs_attention))
    # then it stays UNKNOWN (never downgraded) through three tries, and after the last one the
    # order goes to the manual queue with one alert
    assert seen == [("unknown", 1, False), ("unknown", 2, False), ("unknown", 3, True)]
    [alert] = PaymentAlert.objects.filter(kind=PaymentAlert.Kind.JANITOR_GAVE_UP)
    assert alert.out_trade_no == order.out_trade_no
    with later(4000):
        assert janitor_run().checked_orders == []
    assert PaymentAlert.objects.filter(kind=PaymentAlert.Kind.JANITOR_GAVE_UP).count() == 1
    assert ledger_payments(order) == []


def test_an_unpaid_order_past_its_expiry_is_closed_here_and_at_the_provider(
    sims, backoff, resident, season, tariff
):
    with time_machine.travel(START, tick=True):
        order = order_for_new_bill(payer=resident, season=season)
    expiry = (order.expires_at - START).total_seconds()
    with later(expiry + 5):
        run = janitor_run()
    assert run.checked_orders == [order.out_trade_no]
    fresh = PaymentOrder.objects.get(pk=order.pk)
    assert (fresh.status, fresh.next_check_at) == ("closed", None)
    assert SandboxPaymentOrder.objects.get(out_trade_no=order.out_trade_no).state == "closed"
    assert ledger_payments(order) == []
    assert bill_of(order).status != Bill.Status.PAID


def test_a_payment_that_races_the_expiry_close_ends_paid(sims, backoff, resident, season, tariff):
    # given an order paid in its last second, notify lost
    with time_machine.travel(START, tick=True):
        order = order_for_new_bill(payer=resident, season=season)
    expiry = (order.expires_at - START).total_seconds()
    with later(expiry - 2):
        pay_at_cashier(order)
    # when the janitor closes it as expired, the provider refuses (paid) and the re-query wins
    with later(expiry + 5):
        janitor_run()
    fresh = PaymentOrder.objects.get(pk=order.pk)
    assert (fresh.status, fresh.paid_fen) == ("paid", FEN)
    assert ledger_payments(order) == [("wechatpay", -FEN)]
    assert SandboxPaymentOrder.objects.get(out_trade_no=order.out_trade_no).state == "paid"


def test_a_processing_refund_is_queried_until_it_succeeds(
    sims, backoff, resident, season, tariff, collector, finance
):
    from heatdesk.payments.services.refunds import refund_approve, refund_request

    with time_machine.travel(START, tick=True):
        order = paid_order(payer=resident, season=season)
        knobs_set(refund_processing=True)
        refund = refund_request(order=order, amount_fen=5000, reason="多缴退费", by=collector)
        refund = refund_approve(refund=refund, by=finance)
    refund = Refund.objects.get(pk=refund.pk)
    assert refund.status == Refund.Status.PROCESSING
    tries = refund.check_attempts
    Refund.objects.filter(pk=refund.pk).update(next_check_at=START + dt.timedelta(seconds=10))
    # the provider still says PROCESSING: kept, next check pushed out
    with later(15):
        assert janitor_run().checked_refunds == [refund.out_refund_no]
    kept = Refund.objects.get(pk=refund.pk)
    assert (kept.status, kept.check_attempts) == ("processing", tries + 1)
    # the janitor's schedule sets the next check, not sooner than the next step
    step = backoff.PAYMENTS_JANITOR_BACKOFF_SECONDS[min(tries + 1, 2)]
    expected = START + dt.timedelta(seconds=15 + step)
    assert abs(kept.next_check_at - expected) < dt.timedelta(seconds=3)
    with later(15 + step - 5):
        assert janitor_run().checked_refunds == []
    # the provider finishes it; the next due check brings it in
    response = Client().post(
        f"/sandbox/payments/refunds/wechatpay/{refund.out_refund_no}/settle",
        {"status": "SUCCESS"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    with later(15 + step + 5):
        assert janitor_run().checked_refunds == [refund.out_refund_no]
    done = Refund.objects.get(pk=refund.pk)
    assert (done.status, done.next_check_at) == ("succeeded", None)


def test_a_provider_answering_queries_with_5xx_keeps_a_paid_order_open_until_it_answers(
    sims, backoff, resident, season, tariff
):
    # given an order paid at the provider (notify lost), whose queries answer 500 SYSTEM_ERROR
    with time_machine.travel(START, tick=True):
        order = order_for_new_bill(payer=resident, season=season)
        pay_at_cashier(order)
    knobs_set(out_trade_no=order.out_trade_no, fail_query=True)
    # when the janitor asks twice and gets a real 5xx each time
    for seconds in (15, 50):
        with later(seconds):
            assert janitor_run().checked_orders == [order.out_trade_no]
        fresh = PaymentOrder.objects.get(pk=order.pk)
        # then nothing is concluded from the error: still PENDING, no payment booked
        assert (fresh.status, fresh.needs_attention) == ("pending", False)
        assert ledger_payments(order) == []
    assert PaymentOrder.objects.get(pk=order.pk).check_attempts == 2
    # when the provider answers again, the third try settles it once
    knobs_set(out_trade_no=order.out_trade_no, fail_query=None)
    with later(120):
        janitor_run()
    fresh = PaymentOrder.objects.get(pk=order.pk)
    assert (fresh.status, fresh.check_attempts, fresh.needs_attention) == ("paid", 3, False)
    assert ledger_payments(order) == [("wechatpay", -FEN)]
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.JANITOR_GAVE_UP).exists()
