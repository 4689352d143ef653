"""`order_settle` returns the order as the database now holds it, without reading it again:
every field the settlement wrote, the excess of a bill paid twice included."""

import pytest

from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of

pytestmark = pytest.mark.django_db

FIELDS = (
    "status",
    "transaction_id",
    "paid_fen",
    "paid_at",
    "next_check_at",
    "updated_at",
    "excess_fen",
    "needs_attention",
)


def _fields(order: PaymentOrder) -> dict[str, object]:
    return {name: getattr(order, name) for name in FIELDS}


def _stored(order: PaymentOrder) -> dict[str, object]:
    return _fields(PaymentOrder.objects.get(pk=order.pk))


def test_a_settled_order_is_returned_as_stored(bills, resident, house_a):
    # given
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="row-1"
    )

    # when
    settled = order_settle(
        order=order, transaction_id="4200000001202611200000000001", paid_fen=BILL_FEN
    )

    # then
    assert _fields(settled) == _stored(order)
    assert (settled.status, settled.paid_fen, settled.excess_fen) == ("paid", BILL_FEN, 0)
    assert settled.next_check_at is None
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]


def test_the_second_payment_of_a_bill_is_returned_with_its_excess(settings, bills, resident):
    # given
    settings.PAYMENTS_DOUBLE_PAYMENT = "credit"
    first = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="row-2"
    )
    second = order_create(
        payer=resident, channel="alipay_precreate", bills=[bills[0]], idempotency_key="row-3"
    )
    order_settle(order=first, transaction_id="4200000001202611200000000002", paid_fen=BILL_FEN)

    # when
    settled = order_settle(
        order=second, transaction_id="2026112022001400000000000003", paid_fen=BILL_FEN
    )

    # then
    assert _fields(settled) == _stored(second)
    assert (settled.status, settled.excess_fen) == ("paid", BILL_FEN)
    assert bill_status(bills[0]) == ("paid", BILL_FEN)


def test_settling_again_returns_the_stored_order_unchanged(bills, resident):
    # given
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="row-4"
    )
    order_settle(order=order, transaction_id="4200000001202611200000000004", paid_fen=BILL_FEN)
    before = _stored(order)

    # when
    again = order_settle(
        order=order, transaction_id="4200000001202611200000000004", paid_fen=BILL_FEN
    )

    # then
    assert _fields(again) == before == _stored(order)
