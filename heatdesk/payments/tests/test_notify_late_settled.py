"""A late notify for an order we had closed, for a bill another payment settled meanwhile
(payments.md §4.5 #12): the money is taken (PAID, provider truth) with a late-payment alert, and
the bill is not paid twice: the excess is account credit, or an automatic refund by policy.
And a notify without its Wechatpay-Signature-Type header is refused at the endpoint (#15)."""

import pytest

from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.tests.factories import account_state, assert_account_consistent
from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify, Refund
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.notify_support import post_wechat, wechat_notify
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


def _closed_then_paid_elsewhere(resident, bill):
    """An order we closed (expired), then a second order that paid the bill."""
    late = order_create(payer=resident, channel="wechat_native", bills=[bill], idempotency_key="l")
    PaymentOrder.objects.filter(pk=late.pk).update(status="closed")
    other = order_create(payer=resident, channel="wechat_native", bills=[bill], idempotency_key="o")
    order_settle(order=other, transaction_id="4200OTHER", paid_fen=BILL_FEN)
    return late, other


def test_a_late_notify_for_a_bill_settled_meanwhile_is_paid_credited_and_alerted(
    bills, resident, house_a
):
    late, other = _closed_then_paid_elsewhere(resident, bills[0])
    # when the closed order's payment notify arrives after all
    headers, body = wechat_notify(late.out_trade_no, total=BILL_FEN, transaction_id="4200LATE")
    assert post_wechat(headers, body).status_code == 200
    # then the money is taken, the bill is paid once, the rest is credit, and finance is told
    row = PaymentOrder.objects.get(pk=late.pk)
    assert (row.status, row.paid_fen, row.excess_fen) == ("paid", BILL_FEN, BILL_FEN)
    assert payments_of(house_a) == [
        (-BILL_FEN, other.out_trade_no),
        (-BILL_FEN, late.out_trade_no),
    ]
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert credit_fen(house_id=house_a.pk) == BILL_FEN
    assert sorted(PaymentAlert.objects.values_list("kind", flat=True)) == [
        "double_payment",
        "late_payment",
    ]
    assert ProviderNotify.objects.get().outcome == "alert"
    assert not Refund.objects.exists()
    assert assert_account_consistent(house_a) == -BILL_FEN
    # a redelivery changes nothing
    assert post_wechat(headers, body).status_code == 200
    assert len(payments_of(house_a)) == 2


def test_with_the_refund_policy_the_late_payment_is_refunded_automatically(
    settings, bills, resident, house_a, django_capture_on_commit_callbacks
):
    settings.PAYMENTS_DOUBLE_PAYMENT = "refund"
    settings.WECHATPAY_BASE_URL = "http://127.0.0.1:9/v3"  # the refund call cannot get through
    late, _ = _closed_then_paid_elsewhere(resident, bills[0])
    headers, body = wechat_notify(late.out_trade_no, total=BILL_FEN, transaction_id="4200LATE")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_wechat(headers, body).status_code == 200
    assert PaymentOrder.objects.get(pk=late.pk).status == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    # the automatic refund of the excess is committed before any provider call and kept open
    refund = Refund.objects.get()
    assert (refund.order_id, refund.amount_fen, refund.automatic) == (late.pk, BILL_FEN, True)
    assert refund.status == "unknown"  # never failed: a replay uses the same number
    assert refund.provider_request != ""


def test_a_notify_without_its_signature_type_is_refused_and_changes_nothing(
    bills, resident, house_a
):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="t"
    )
    before = account_state(house_a)
    headers, body = wechat_notify(order.out_trade_no, total=BILL_FEN)
    del headers["Wechatpay-Signature-Type"]
    answer = post_wechat(headers, body)
    assert (answer.status_code, answer.json()["code"]) == (400, "FAIL")
    assert PaymentOrder.objects.get(pk=order.pk).status == "created"
    assert account_state(house_a) == before
    assert not ProviderNotify.objects.exists()
    assert PaymentAlert.objects.get().kind == "notify_rejected"
