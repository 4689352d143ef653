"""One order for the bills of two houses the payer has bound: settlement posts each house's
share to its own account, once, with the order's bills as the allocations."""

import pytest

from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.estates.models import HouseBinding
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


def test_an_order_spanning_two_houses_posts_one_share_to_each(bills, resident, house_a, house_b):
    HouseBinding.objects.create(user=resident, house=house_b, relation="family")
    order = order_create(
        payer=resident, channel="wechat_native", bills=list(bills), idempotency_key="two"
    )
    assert order.amount_fen == 2 * BILL_FEN
    assert order.description == "采暖费-HT10000001等2户"
    for _ in range(2):
        order_settle(order=order, transaction_id="4200TWO", paid_fen=2 * BILL_FEN)
    first, second = sorted([house_a, house_b], key=lambda h: h.pk)
    assert payments_of(first) == [(-BILL_FEN, f"{order.out_trade_no}-1")]
    assert payments_of(second) == [(-BILL_FEN, f"{order.out_trade_no}-2")]
    assert [bill_status(b) for b in bills] == [("paid", BILL_FEN), ("paid", BILL_FEN)]
    assert assert_account_consistent(house_a) == assert_account_consistent(house_b) == 0
