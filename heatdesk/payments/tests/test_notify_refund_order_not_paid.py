"""A refund notify for an order we do not know as paid — the payment's own notify is late or
lost, and the provider's query (asked first, outside the transaction) still says not paid — is
refused with `refund_order_not_paid` and not acknowledged, so the provider delivers it again;
nothing is stored, credited or refunded."""

import pytest

from heatdesk.billing.tests.factories import account_state
from heatdesk.core.errors import Conflict
from heatdesk.payments import views
from heatdesk.payments.models import PaymentOrder, ProviderNotify, Refund
from heatdesk.payments.notify import wechatpay_parse_notify
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.services.refunds_apply import refund_apply_notify
from heatdesk.payments.tests.notify_support import post_wechat, wechat_refund_notify
from heatdesk.payments.tests.orders_support import BILL_FEN

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


@pytest.fixture
def unpaid_refund(bills, resident, agent):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="np-1"
    )
    return Refund.objects.create(
        order=order,
        out_refund_no="RFNOTPAID0001",
        amount_fen=BILL_FEN,
        reason="用户申请退费",
        status=Refund.Status.PROCESSING,
        requested_by=agent,
    )


def _state(refund, house):
    row = Refund.objects.select_related("order").get(pk=refund.pk)
    return (row.status, row.succeeded_at, row.order.status, account_state(house))


def test_a_refund_notify_for_an_order_not_paid_is_refused_and_changes_nothing(
    unpaid_refund, house_a, monkeypatch
):
    # given: the provider's query answers that the order is still not paid
    asked = []
    monkeypatch.setattr(views, "order_sync", lambda order: asked.append(order.pk) or order)
    before = _state(unpaid_refund, house_a)
    headers, body = wechat_refund_notify(
        unpaid_refund.order.out_trade_no,
        unpaid_refund.out_refund_no,
        total=BILL_FEN,
        refund=BILL_FEN,
        event_id="EV-RF-NP-1",
    )

    # when
    answer = post_wechat(headers, body)

    # then: refused (4xx, not acknowledged), after asking the provider once
    assert answer.status_code == 400
    assert answer.json()["code"] == "FAIL"
    assert asked == [unpaid_refund.order.pk]
    assert _state(unpaid_refund, house_a) == before
    assert before[0] == Refund.Status.PROCESSING
    assert before[2] == PaymentOrder.Status.CREATED
    assert not ProviderNotify.objects.exists()


def test_the_refusal_carries_its_code(unpaid_refund, house_a):
    headers, body = wechat_refund_notify(
        unpaid_refund.order.out_trade_no,
        unpaid_refund.out_refund_no,
        total=BILL_FEN,
        refund=BILL_FEN,
    )
    before = _state(unpaid_refund, house_a)
    with pytest.raises(Conflict) as refused:
        refund_apply_notify(wechatpay_parse_notify(headers, body))
    assert refused.value.code == "refund_order_not_paid"
    assert _state(unpaid_refund, house_a) == before
