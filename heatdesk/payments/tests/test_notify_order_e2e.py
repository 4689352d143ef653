"""Orders end to end, from the simulators through our notify endpoints (payments.md §4.5 #8,
#11, #17): a refund notify that arrives before the payment's own notify; Alipay's TRADE_CLOSED
for a trade that was paid and then fully refunded (by notify and by query); a notify handler
slower than the provider's 5 s wait while the provider retries; a payer who cancels at the
cashier, whose order waits for the janitor to close it at expiry. Each ends with at most one
payment and at most one refund on the ledger."""

import datetime as dt
import time
from typing import Any

import pytest
import time_machine
from django.conf import settings

from heatdesk.billing.models import LedgerEntry
from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.payments.models import PaymentOrder, ProviderNotify, Refund
from heatdesk.payments.providers.config import alipay_client
from heatdesk.payments.services.janitor import janitor_run
from heatdesk.payments.services.orders import order_close, order_create, order_prepare
from heatdesk.payments.services.refunds import refund_approve, refund_request
from heatdesk.payments.services.sync import order_sync
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    openid_for,
    payments_of,
    sim_order,
    wait_until,
)
from heatdesk.payments.tests.proxy_support import (  # noqa: F401 - fixture
    Answer,
    Proxy,
    proxy_fixture,
)
from heatdesk.sandbox import courier
from heatdesk.sandbox.courier import POST_TIMEOUT_SECONDS
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxNotifyDelivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sim")]


def _order(resident: Any, bill: Any, key: str, channel: str) -> PaymentOrder:
    extra = {"openid": openid_for(settings)} if channel == "wechat_jsapi" else {}
    return order_create(payer=resident, channel=channel, bills=[bill], idempotency_key=key, **extra)


def _deliveries(order: PaymentOrder) -> list[SandboxNotifyDelivery]:
    return list(
        SandboxNotifyDelivery.objects.filter(order__out_trade_no=order.out_trade_no).order_by("id")
    )


def _all_delivered(order: PaymentOrder, count: int) -> list[SandboxNotifyDelivery]:
    def done() -> bool:
        rows = _deliveries(order)
        return len(rows) >= count and all(r.state == "delivered" for r in rows)

    wait_until(done, timeout=20)
    return _deliveries(order)


def _refund_entries(house: Any) -> list[tuple[str, int]]:
    return list(
        LedgerEntry.objects.filter(house=house, kind="refund")
        .order_by("id")
        .values_list("source_id", "amount_fen")
    )


def _stored() -> list[tuple[str, str, str]]:
    return list(ProviderNotify.objects.order_by("id").values_list("kind", "event_type", "outcome"))


def test_a_refund_notify_before_the_payment_notify_ends_paid_and_refunded_once(
    bills, resident, house_a, agent, finance
):
    order = _order(resident, bills[0], "refund-first", "wechat_native")
    # the payment's notify is held back until the next notify of this order has been delivered
    knobs_set(out_trade_no=order.out_trade_no, notify_reorder=True)
    order_prepare(order)
    cashier_pay(order)
    # the resident's poll learns of the payment by query; finance refunds it in full
    assert order_sync(order).status == "paid"
    refund = refund_request(order=order, amount_fen=BILL_FEN, reason="用户申请退费", by=agent)
    # (its own notify is not held, and comes a moment after the approval has returned)
    knobs_set(out_refund_no=refund.out_refund_no, notify_reorder=False, notify_delay=1)
    refund_approve(refund=refund, by=finance)
    # when the refund notify arrives first and the payment notify after it
    payment, refund_delivery = sorted(_all_delivered(order, 2), key=lambda d: d.refund_id or 0)
    assert (refund_delivery.event_type, payment.event_type) == (
        "REFUND.SUCCESS",
        "TRANSACTION.SUCCESS",
    )
    assert refund_delivery.delivered_at <= payment.delivered_at
    assert (refund_delivery.last_status, payment.last_status) == (200, 200)
    # then the order is paid, the refund done, and each is on the ledger once
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    assert Refund.objects.get(pk=refund.pk).status == "succeeded"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert _refund_entries(house_a) == [(refund.out_refund_no, BILL_FEN)]
    assert bill_status(bills[0]) == ("issued", 0)
    assert _stored() == [
        ("refund", "REFUND.SUCCESS", "applied"),
        ("payment", "TRANSACTION.SUCCESS", "no_change"),
    ]
    assert assert_account_consistent(house_a) == BILL_FEN  # owed again, once


def test_alipay_trade_closed_after_a_full_refund_is_acknowledged_and_keeps_the_order_paid(
    bills, resident, house_a, agent, finance
):
    order = _order(resident, bills[0], "closed-after-refund", "alipay_precreate")
    order_prepare(order)
    cashier_pay(order)
    _all_delivered(order, 1)
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    refund = refund_request(order=order, amount_fen=BILL_FEN, reason="用户申请退费", by=agent)
    # (the refund's notify waits until the approval has returned)
    knobs_set(out_refund_no=refund.out_refund_no, notify_reorder=True)
    assert refund_approve(refund=refund, by=finance).status == "succeeded"
    # when Alipay reports the fully refunded trade as TRADE_CLOSED
    courier.release_held()
    courier.wake()
    closed = _all_delivered(order, 2)[1]
    assert (closed.event_type, closed.last_status, closed.last_answer) == (
        "TRADE_CLOSED",
        200,
        "success",
    )
    assert closed.attempts == 1
    # then nothing closes the order or refunds twice, and a query or close keeps it paid
    assert order_sync(order).status == "paid"
    assert order_close(order).status == "paid"
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    assert Refund.objects.get(pk=refund.pk).status == "succeeded"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert _refund_entries(house_a) == [(refund.out_refund_no, BILL_FEN)]
    assert bill_status(bills[0]) == ("issued", 0)
    assert [kind for kind, _, _ in _stored()] == ["payment", "refund"]
    assert assert_account_consistent(house_a) == BILL_FEN  # owed again, once


def test_an_alipay_query_answering_trade_closed_for_a_paid_then_refunded_trade_settles_it(
    bills, resident, house_a
):
    order = _order(resident, bills[0], "closed-query", "alipay_precreate")
    knobs_set(out_trade_no=order.out_trade_no, notify_drop=True)
    order_prepare(order)
    cashier_pay(order)  # paid, the notify lost
    # refunded in full at the provider, outside HeatDesk (the merchant portal)
    alipay_client().refund(
        out_trade_no=order.out_trade_no, out_request_no="PORTAL0001", refund_fen=BILL_FEN
    )
    assert alipay_client().query(out_trade_no=order.out_trade_no).trade_status == "TRADE_CLOSED"
    # when the janitor's query meets TRADE_CLOSED with a payment date
    synced = order_sync(order)
    # then the money that was paid is taken (provider truth), never a closed order
    assert (synced.status, synced.paid_fen) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert order_sync(order).status == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert not ProviderNotify.objects.exists()


@pytest.mark.parametrize("outcome", ["fail", "cancel"])
def test_a_payer_who_cancels_leaves_the_order_pending_until_the_janitor_closes_it_at_expiry(
    bills, resident, house_a, outcome
):
    order = _order(resident, bills[0], f"payer-{outcome}", "wechat_jsapi")
    order_prepare(order)
    # when wx.requestPayment fails or the payer cancels
    cashier_pay(order, outcome)
    assert sim_order(order).state == "pending"
    # then nothing is paid and no notify is owed; the order waits for its expiry
    assert PaymentOrder.objects.get(pk=order.pk).status == "pending"
    assert not SandboxNotifyDelivery.objects.exists()
    assert order_sync(order).status == "pending"
    expires_at = PaymentOrder.objects.get(pk=order.pk).expires_at
    with time_machine.travel(expires_at + dt.timedelta(minutes=5), tick=True):
        run = janitor_run()
    assert order.out_trade_no in run.checked_orders
    closed = PaymentOrder.objects.get(pk=order.pk)
    assert (closed.status, closed.paid_fen) == ("closed", None)
    assert sim_order(order).state == "closed"
    assert (payments_of(house_a), bill_status(bills[0])) == ([], ("issued", 0))
    assert not ProviderNotify.objects.exists()


@pytest.mark.parametrize("slow", ["before_commit", "after_commit"])
def test_a_handler_slower_than_the_providers_wait_applies_the_notify_once(
    sim, payment_settings, proxy, bills, resident, house_a, slow
):
    # the network path to our endpoint: the first delivery takes longer than WeChat Pay waits
    assert POST_TIMEOUT_SECONDS == 5.0
    pause = POST_TIMEOUT_SECONDS + 1
    answered: list[int] = []

    def before(index: int, path: str) -> None:
        if slow == "before_commit" and index == 0:
            time.sleep(pause)  # still in flight when the retry comes

    def rewrite(answer: Answer) -> Answer:
        with proxy.lock:
            first = not answered
            answered.append(answer.status)
        if slow == "after_commit" and first:
            time.sleep(pause)  # applied and committed, but acknowledged too late
        return answer

    proxy.target, proxy.before, proxy.rewrite = sim.url, before, rewrite
    payment_settings.WECHATPAY_NOTIFY_URL = f"{proxy.url}/payments/notify/wechatpay"
    order = _order(resident, bills[0], f"slow-{slow}", "wechat_native")
    order_prepare(order)
    cashier_pay(order)
    # when the provider gives up on the first delivery and delivers again
    (delivery,) = _all_delivered(order, 1)
    wait_until(lambda: len(answered) >= 2, timeout=20)
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.delivered, delivery.last_status) == (2, 1, 200)
    # then both reached our endpoint, both were acknowledged, and the payment applied once
    assert proxy.count("/payments/notify/wechatpay") == 2
    assert answered == [200, 200]
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert _stored() == [("payment", "TRANSACTION.SUCCESS", "applied")]
    assert assert_account_consistent(house_a) == 0
