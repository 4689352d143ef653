"""Unknown outcomes and the provider's truth: a create that timed out (or answered 5xx) after
the provider committed it is UNKNOWN, never FAILED, and a query or an identical replay puts it
right; a create that never arrived is closed; an unreachable provider changes nothing; a
definitive refusal fails the order with its reason."""

import datetime as dt

import pytest

from heatdesk.core import clock
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.providers.config import wechatpay_client
from heatdesk.payments.services.orders import order_close, order_create, order_prepare
from heatdesk.payments.services.sync import order_sync
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    payments_of,
    sim_order,
    wait_delivered,
    wait_until,
)
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sim")]


def _order(resident, bill, key, channel="wechat_native"):
    return order_create(payer=resident, channel=channel, bills=[bill], idempotency_key=key)


def _status(order):
    return PaymentOrder.objects.get(pk=order.pk).status


def test_a_create_that_timed_out_but_succeeded_is_unknown_then_put_right(
    settings, bills, resident, house_a
):
    settings.PAYMENTS_PROVIDER_TIMEOUT_SECONDS = 1
    order = _order(resident, bills[0], "slow")
    knobs_set(out_trade_no=order.out_trade_no, timeout_after_create=2)
    # when the answer never comes
    assert order_prepare(order) is None
    order.refresh_from_db()
    assert (order.status, order.failure, order.prepay) == ("unknown", "", {})
    assert order.next_check_at is not None
    sent = order.provider_request
    wait_until(lambda: SandboxPaymentOrder.objects.filter(out_trade_no=order.out_trade_no).exists())
    assert sim_order(order).state == "pending"  # the provider did create it
    # then the query finds it unpaid and waiting
    assert order_sync(order).status == "pending"
    # and the replay of the identical body gets the same code_url
    knobs_set(out_trade_no=order.out_trade_no, timeout_after_create=None)
    pay = order_prepare(order)
    order.refresh_from_db()
    assert order.provider_request == sent
    assert pay["code_url"] == sim_order(order).code_url
    assert SandboxPaymentOrder.objects.count() == 1
    cashier_pay(order)
    wait_delivered(order)
    assert _status(order) == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]


def test_a_create_answered_with_5xx_is_unknown_not_failed(bills, resident):
    order = _order(resident, bills[0], "five-hundred")
    knobs_set(out_trade_no=order.out_trade_no, fail_after_create=True)
    assert order_prepare(order) is None
    assert _status(order) == "unknown"
    assert order_sync(order).status == "pending"


def test_a_create_that_never_arrived_is_closed_after_the_query(bills, resident):
    order = _order(resident, bills[0], "lost")
    # the request was stored and sent, but the provider never saw it
    PaymentOrder.objects.filter(pk=order.pk).update(
        status="unknown", provider_request='{"lost": true}'
    )
    synced = order_sync(order)
    assert (synced.status, synced.failure) == ("closed", "下单请求未到达支付平台")
    assert bill_status(bills[0]) == ("issued", 0)


def test_an_unreachable_provider_changes_nothing(settings, bills, resident):
    order = _order(resident, bills[0], "down")
    order_prepare(order)
    settings.WECHATPAY_BASE_URL = "http://127.0.0.1:9/v3"
    for status in ("pending", "unknown"):
        PaymentOrder.objects.filter(pk=order.pk).update(status=status)
        assert order_sync(order).status == status
        assert order_close(order).status == status


def test_a_prepay_past_its_life_is_asked_again_with_the_identical_body(bills, resident):
    order = _order(resident, bills[0], "old-prepay", channel="wechat_native")
    first = order_prepare(order)
    PaymentOrder.objects.filter(pk=order.pk).update(prepay_at=clock.now() - dt.timedelta(hours=2))
    assert order_prepare(order) == first
    assert SandboxPaymentOrder.objects.count() == 1


def test_a_definitive_refusal_fails_the_order_with_its_reason(bills, resident):
    order = _order(resident, bills[0], "refused")
    order_prepare(order)
    wechatpay_client().close_order(order.out_trade_no)  # closed at the provider behind our back
    PaymentOrder.objects.filter(pk=order.pk).update(prepay_at=clock.now() - dt.timedelta(hours=2))
    with pytest.raises(Exception, match="支付平台拒绝") as refused:
        order_prepare(order)
    assert refused.value.code == "payment_provider_refused"
    order.refresh_from_db()
    assert (order.status, order.failure.split(":")[0]) == ("failed", "ORDER_CLOSED")


def test_an_unscanned_alipay_qr_code_is_closed_as_unpaid(bills, resident):
    order = _order(resident, bills[0], "unscanned", channel="alipay_precreate")
    order_prepare(order)
    assert order_sync(order).status == "pending"  # TRADE_NOT_EXIST before expiry: still open
    closed = order_close(order)
    assert closed.status == "closed"
    assert bill_status(bills[0]) == ("issued", 0)


def test_an_expired_unpaid_order_is_closed_by_the_query(bills, resident):
    order = _order(resident, bills[0], "expired")
    order_prepare(order)
    PaymentOrder.objects.filter(pk=order.pk).update(expires_at=clock.now() - dt.timedelta(1))
    assert order_sync(order).status == "closed"
