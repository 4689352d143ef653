"""The notify endpoints: a genuine notify settles once and is acknowledged in the provider's
exact words; a duplicate is acknowledged and changes nothing; anything forged, stale, foreign,
tampered or unknown is refused with no change and an alert that keeps the raw request."""

import pytest
from django.db import transaction

from heatdesk.billing.tests.factories import account_state
from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify
from heatdesk.payments.notify import wechatpay_parse_notify
from heatdesk.payments.services.notifies import notify_apply
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.tests.notify_support import (
    alipay_notify,
    post_alipay,
    post_wechat,
    stale_timestamp,
    wechat_notify,
)
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


@pytest.fixture
def wechat_order(bills, resident):
    return order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="n-1"
    )


@pytest.fixture
def alipay_order(bills, resident):
    return order_create(
        payer=resident, channel="alipay_precreate", bills=[bills[0]], idempotency_key="n-2"
    )


def _unchanged(order, house, before):
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.transaction_id) == ("created", None, "")
    assert account_state(house) == before
    assert not ProviderNotify.objects.exists()


def test_a_genuine_wechat_notify_settles_and_is_acknowledged_with_200(wechat_order, house_a, bills):
    headers, body = wechat_notify(wechat_order.out_trade_no, total=BILL_FEN, event_id="EV-1")
    answer = post_wechat(headers, body)
    assert (answer.status_code, answer.content) == (200, b"")
    wechat_order.refresh_from_db()
    assert (wechat_order.status, wechat_order.paid_fen) == ("paid", BILL_FEN)
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    notify = ProviderNotify.objects.get()
    assert (notify.event_id, notify.outcome, notify.kind) == ("EV-1", "applied", "payment")


def test_ten_deliveries_of_one_notify_settle_once_and_are_all_acknowledged(wechat_order, house_a):
    headers, body = wechat_notify(wechat_order.out_trade_no, total=BILL_FEN, event_id="EV-DUP")
    answers = [post_wechat(headers, body).status_code for _ in range(10)]
    assert answers == [200] * 10
    assert payments_of(house_a) == [(-BILL_FEN, wechat_order.out_trade_no)]
    assert ProviderNotify.objects.count() == 1
    # a second event id for the same payment (WeChat re-sends with a new id) applies nothing
    headers, body = wechat_notify(wechat_order.out_trade_no, total=BILL_FEN, event_id="EV-DUP-2")
    assert post_wechat(headers, body).status_code == 200
    assert payments_of(house_a) == [(-BILL_FEN, wechat_order.out_trade_no)]
    assert ProviderNotify.objects.get(event_id="EV-DUP-2").outcome == "no_change"


@pytest.mark.parametrize(
    ("case", "build"),
    [
        ("forged", lambda no, stranger: wechat_notify(no, total=BILL_FEN, key=stranger)),
        ("stale", lambda no, _: wechat_notify(no, total=BILL_FEN, timestamp=stale_timestamp())),
        ("signtest", lambda no, _: wechat_notify(no, total=BILL_FEN, signtest=True)),
        ("foreign mchid", lambda no, _: wechat_notify(no, total=BILL_FEN, mchid="1900000999")),
        ("foreign appid", lambda no, _: wechat_notify(no, total=BILL_FEN, appid="wx0000000000")),
        ("tampered amount", lambda no, _: wechat_notify(no, total=1)),
        ("unknown order", lambda no, _: wechat_notify("HD20261120NOSUCHORDER", total=BILL_FEN)),
    ],
)
def test_a_bad_wechat_notify_is_refused_with_4xx_changes_nothing_and_raises_an_alert(
    wechat_order, house_a, stranger_key, case, build
):
    before = account_state(house_a)
    headers, body = build(wechat_order.out_trade_no, stranger_key)
    answer = post_wechat(headers, body)
    assert answer.status_code == 400, case
    assert answer.json()["code"] == "FAIL"
    _unchanged(wechat_order, house_a, before)
    alert = PaymentAlert.objects.get()
    assert (alert.kind, alert.provider) == ("notify_rejected", "wechatpay")
    assert alert.detail["body"] == body.decode()
    assert alert.detail["headers"]["Wechatpay-Signature"] == headers["Wechatpay-Signature"]


def test_a_garbage_wechat_notify_is_a_4xx_not_a_500(wechat_order):
    answer = post_wechat({"Wechatpay-Signature": "x"}, b"\xff\xfe not json")
    assert answer.status_code == 400
    assert PaymentAlert.objects.get().detail["body_bytes"] == 11


def test_a_genuine_alipay_notify_is_answered_with_exactly_success(alipay_order, bills):
    answer = post_alipay(alipay_notify(alipay_order.out_trade_no, total=BILL_FEN))
    assert (answer.status_code, answer.content) == (200, b"success")
    alipay_order.refresh_from_db()
    assert alipay_order.status == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)


@pytest.mark.parametrize(
    ("case", "build"),
    [
        ("forged", lambda no, stranger: alipay_notify(no, total=BILL_FEN, key=stranger)),
        ("foreign app", lambda no, _: alipay_notify(no, total=BILL_FEN, app_id="2021000000009999")),
        ("foreign seller", lambda no, _: alipay_notify(no, total=BILL_FEN, seller_id="2088999")),
        ("tampered amount", lambda no, _: alipay_notify(no, total=BILL_FEN + 1)),
        ("unknown order", lambda no, _: alipay_notify("HD20261120NOSUCHORDER", total=BILL_FEN)),
    ],
)
def test_a_bad_alipay_notify_is_answered_fail_and_changes_nothing(
    alipay_order, house_a, stranger_key, case, build
):
    before = account_state(house_a)
    params = build(alipay_order.out_trade_no, stranger_key)
    answer = post_alipay(params)
    assert (answer.status_code, answer.content) == (200, b"fail"), case
    _unchanged(alipay_order, house_a, before)
    alert = PaymentAlert.objects.get()
    assert (alert.kind, alert.provider) == ("notify_rejected", "alipay")
    assert params["sign"][:50] in alert.detail["body"] or "sign=" in alert.detail["body"]


def test_trade_finished_before_trade_success_settles_once(alipay_order, house_a):
    no = alipay_order.out_trade_no
    finished = alipay_notify(no, total=BILL_FEN, trade_status="TRADE_FINISHED")
    success = alipay_notify(no, total=BILL_FEN, trade_status="TRADE_SUCCESS")
    assert post_alipay(finished).content == b"success"
    assert post_alipay(success).content == b"success"
    assert payments_of(house_a) == [(-BILL_FEN, no)]
    assert list(ProviderNotify.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied",
        "no_change",
    ]


def _apply_then_crash(verified):
    with transaction.atomic():
        notify_apply(verified)
        raise RuntimeError("worker killed before commit")


def test_a_crash_after_verify_before_commit_leaves_nothing_and_the_retry_settles_once(
    wechat_order, house_a
):
    headers, body = wechat_notify(wechat_order.out_trade_no, total=BILL_FEN, event_id="EV-CR")
    verified = wechatpay_parse_notify(headers, body)
    # the process dies inside the transaction, after the notify was verified and applied
    with pytest.raises(RuntimeError, match="killed"):
        _apply_then_crash(verified)
    assert PaymentOrder.objects.get(pk=wechat_order.pk).status == "created"
    assert (payments_of(house_a), ProviderNotify.objects.count()) == ([], 0)
    # the provider delivers again
    assert post_wechat(headers, body).status_code == 200
    assert post_wechat(headers, body).status_code == 200
    assert payments_of(house_a) == [(-BILL_FEN, wechat_order.out_trade_no)]
    assert ProviderNotify.objects.count() == 1


def test_a_late_notify_after_close_still_settles_with_an_alert(wechat_order, house_a, bills):
    PaymentOrder.objects.filter(pk=wechat_order.pk).update(status="closed")
    headers, body = wechat_notify(wechat_order.out_trade_no, total=BILL_FEN)
    assert post_wechat(headers, body).status_code == 200
    wechat_order.refresh_from_db()
    assert wechat_order.status == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert list(PaymentAlert.objects.values_list("kind", flat=True)) == ["late_payment"]
    assert ProviderNotify.objects.get().outcome == "alert"
