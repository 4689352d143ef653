"""A bill paid twice (two orders, both succeed): the second payment is taken, never dropped and
never applied twice: it becomes account credit, or an automatic refund, as configured."""

import pytest

from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.payments.models import PaymentOrder, Refund
from heatdesk.payments.services.orders import order_create, order_prepare
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    alerts,
    bill_status,
    cashier_pay,
    payments_of,
    wait_delivered,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sim")]


def _two_paid_orders(resident, bill):
    first = order_create(
        payer=resident, channel="wechat_native", bills=[bill], idempotency_key="twice-1"
    )
    second = order_create(
        payer=resident, channel="alipay_precreate", bills=[bill], idempotency_key="twice-2"
    )
    order_prepare(first)
    order_prepare(second)
    cashier_pay(first)
    wait_delivered(first)
    cashier_pay(second)
    wait_delivered(second)
    return PaymentOrder.objects.get(pk=first.pk), PaymentOrder.objects.get(pk=second.pk)


def test_the_second_payment_of_a_bill_becomes_credit_with_an_alert(
    settings, bills, resident, house_a
):
    settings.PAYMENTS_DOUBLE_PAYMENT = "credit"
    first, second = _two_paid_orders(resident, bills[0])
    assert (first.status, first.excess_fen) == ("paid", 0)
    assert (second.status, second.excess_fen) == ("paid", BILL_FEN)
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [
        (-BILL_FEN, first.out_trade_no),
        (-BILL_FEN, second.out_trade_no),
    ]
    assert credit_fen(house_id=house_a.pk) == BILL_FEN
    assert assert_account_consistent(house_a) == -BILL_FEN
    [alert] = alerts("double_payment")
    assert (alert.out_trade_no, alert.detail) == (
        second.out_trade_no,
        {"excess_fen": BILL_FEN, "policy": "credit"},
    )
    assert not Refund.objects.exists()


def test_with_the_refund_policy_the_second_payment_is_refunded_automatically(
    settings, bills, resident, house_a
):
    settings.PAYMENTS_DOUBLE_PAYMENT = "refund"
    _, second = _two_paid_orders(resident, bills[0])
    assert second.excess_fen == BILL_FEN
    wait_until(lambda: Refund.objects.filter(order=second).exists())
    refund = Refund.objects.get()
    assert (refund.order_id, refund.amount_fen, refund.automatic, refund.reason) == (
        second.pk,
        BILL_FEN,
        True,
        "重复缴费自动退款",
    )
    assert alerts("double_payment")[0].detail["policy"] == "refund"


def test_settling_again_or_concurrently_with_the_same_transaction_changes_nothing(
    bills, resident, house_a
):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="again"
    )
    for _ in range(3):
        settled = order_settle(order=order, transaction_id="4200TXN1", paid_fen=BILL_FEN)
        assert settled.status == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert alerts("double_payment") == []
    # another transaction for a paid order is flagged, not posted
    order_settle(order=order, transaction_id="4200TXN2", paid_fen=BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert len(alerts("double_payment")) == 1


def test_a_paid_amount_other_than_the_orders_is_not_credited(bills, resident, house_a):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="short"
    )
    settled = order_settle(order=order, transaction_id="4200TXN3", paid_fen=BILL_FEN - 1)
    assert (settled.status, settled.needs_attention) == ("created", True)
    assert PaymentOrder.objects.get(pk=order.pk).needs_attention
    assert payments_of(house_a) == []
    assert bill_status(bills[0]) == ("issued", 0)
    assert len(alerts("reconciliation")) == 1


def test_a_whole_outstanding_order_pays_the_house_and_posts_once(bills, resident, house_a):
    order = order_create(
        payer=resident, channel="wechat_native", house=house_a, idempotency_key="whole"
    )
    item = order.items.get()
    assert (item.bill_id, item.amount_fen, order.amount_fen) == (None, BILL_FEN, BILL_FEN)
    order_settle(order=order, transaction_id="4200TXN4", paid_fen=BILL_FEN)
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert PaymentOrder.objects.get(pk=order.pk).excess_fen == 0
    assert assert_account_consistent(house_a) == 0
