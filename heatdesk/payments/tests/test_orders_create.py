"""Creating an order: the amount is the server's, as of today (late fee and early discount as
billing computes them), committed with its items before any provider call; unpayable bills
and foreign houses are refused and nothing is written."""

import datetime as dt

import pytest
import time_machine

from heatdesk.billing.models import Bill
from heatdesk.billing.selectors import bill_due_as_of
from heatdesk.billing.services import bill_void
from heatdesk.billing.tests.factories import account_state, assert_account_consistent
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import ApplicationError
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


def _create(resident, bill, key="c-1", **kwargs):
    return order_create(
        payer=resident, channel="alipay_precreate", bills=[bill], idempotency_key=key, **kwargs
    )


def test_an_order_is_committed_with_its_items_before_any_provider_call(bills, resident):
    order = _create(resident, bills[0])
    row = PaymentOrder.objects.get(pk=order.pk)
    assert (row.status, row.provider, row.provider_request, row.prepay) == (
        "created",
        "alipay",
        "",
        {},
    )
    assert row.out_trade_no.startswith("HD20261120")
    assert len(row.out_trade_no) <= 32
    assert row.out_trade_no.isalnum()
    assert abs((row.expires_at - row.created_at) - dt.timedelta(minutes=30)).total_seconds() < 1
    assert list(row.items.values_list("bill_id", "amount_fen", "late_fee_fen")) == [
        (bills[0].pk, BILL_FEN, 0)
    ]


def test_a_late_bill_is_charged_its_late_fee_as_of_today_and_settles_in_full(
    bills, resident, house_a
):
    with time_machine.travel(dt.datetime(2027, 1, 11, 10, tzinfo=SHANGHAI), tick=False):
        due = bill_due_as_of(bill=Bill.objects.get(pk=bills[0].pk), as_of=dt.date(2027, 1, 11))
        assert due.late_fee is not None
        assert due.late_fee.amount_fen > 0
        order = _create(resident, bills[0])
        [item] = order.items.all()
        assert (order.amount_fen, item.late_fee_fen) == (due.due_fen, due.late_fee.amount_fen)
        assert order.amount_fen == BILL_FEN + due.late_fee.amount_fen
        settled = order_settle(order=order, transaction_id="2027011122001", paid_fen=due.due_fen)
    assert (settled.status, settled.excess_fen) == ("paid", 0)
    assert bill_status(bills[0]) == ("paid", due.due_fen)
    assert assert_account_consistent(house_a) == 0


def test_an_early_payment_gets_the_discount_and_settles_in_full(bills, resident, house_a):
    with time_machine.travel(dt.datetime(2026, 10, 20, 10, tzinfo=SHANGHAI), tick=False):
        due = bill_due_as_of(bill=Bill.objects.get(pk=bills[0].pk), as_of=dt.date(2026, 10, 20))
        assert due.early_discount is not None
        order = _create(resident, bills[0])
        assert order.amount_fen == due.due_fen < BILL_FEN
        settled = order_settle(order=order, transaction_id="2026102022001", paid_fen=due.due_fen)
    assert (settled.status, settled.excess_fen) == ("paid", 0)
    assert bill_status(bills[0])[0] == "paid"
    assert assert_account_consistent(house_a) == 0


@pytest.mark.parametrize("status", ["void", "draft", "paid"])
def test_a_bill_that_is_not_open_is_refused(bills, resident, house_a, finance, status):
    if status == "void":
        bill_void(bill=bills[0], reason="重复开单", by=finance)
    else:
        Bill.objects.filter(pk=bills[0].pk).update(status=status)
    before = account_state(house_a)
    with pytest.raises(ApplicationError) as refused:
        _create(resident, bills[0])
    assert (refused.value.code, refused.value.status) == ("bill_not_payable", 409)
    assert account_state(house_a) == before
    assert not PaymentOrder.objects.exists()


def test_a_bill_or_house_of_someone_else_is_not_found(bills, resident, house_b):
    for kwargs in ({"bills": [bills[1]]}, {"house": house_b}):
        with pytest.raises(ApplicationError) as refused:
            order_create(payer=resident, channel="wechat_native", idempotency_key="x", **kwargs)
        assert refused.value.status == 404
    assert not PaymentOrder.objects.exists()


def test_a_house_that_owes_nothing_is_refused(bills, resident, house_a):
    order_settle(order=_create(resident, bills[0]), transaction_id="T1", paid_fen=BILL_FEN)
    with pytest.raises(ApplicationError) as refused:
        order_create(payer=resident, channel="wechat_native", house=house_a, idempotency_key="n")
    assert refused.value.code == "nothing_to_pay"
    assert PaymentOrder.objects.count() == 1


def test_the_same_key_replays_and_a_changed_request_is_refused(bills, resident):
    first = _create(resident, bills[0], key="same")
    assert _create(resident, bills[0], key="same").pk == first.pk
    with pytest.raises(ApplicationError) as refused:
        order_create(
            payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="same"
        )
    assert refused.value.code == "idempotency_key_reused"
    assert PaymentOrder.objects.count() == 1
