"""The cashier page and the simulators' refusals, through Django's test client."""

import json

import pytest
from django.test import Client

from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.config import wechatpay_config
from heatdesk.sandbox.payment_models import SandboxNotifyDelivery, SandboxPaymentOrder

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]


def make_order(**fields):
    defaults = {
        "public_id": "sp_TEST0001",
        "provider": "alipay",
        "merchant_id": "2021000000000001",
        "out_trade_no": "HT-CASHIER-1",
        "kind": "precreate",
        "description": "采暖费",
        "total_fen": 223750,
        "notify_url": "http://127.0.0.1:9/notify/alipay",
        "visible": False,
    }
    defaults.update(fields)
    return SandboxPaymentOrder.objects.create(**defaults)


def test_opening_the_cashier_is_scanning_and_paying_owes_one_notify(
    django_capture_on_commit_callbacks,
):
    order = make_order()
    page = Client().get(f"/sandbox/pay/{order.public_id}/")
    assert page.status_code == 200
    assert "HT-CASHIER-1" in page.content.decode()
    assert "¥2,237.50" in page.content.decode()
    order.refresh_from_db()
    assert order.visible
    with django_capture_on_commit_callbacks() as callbacks:
        paid = Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "succeed"})
    assert paid.status_code == 302
    assert len(callbacks) == 1  # the courier is woken after commit
    order.refresh_from_db()
    assert (order.state, order.last_outcome, bool(order.transaction_id)) == (
        "paid",
        "succeed",
        True,
    )
    delivery = SandboxNotifyDelivery.objects.get()
    assert (delivery.event_type, delivery.state) == ("TRADE_SUCCESS", "pending")
    # paying again is refused and changes nothing
    again = Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "succeed"})
    assert again.status_code == 400
    assert SandboxNotifyDelivery.objects.count() == 1


@pytest.mark.parametrize("outcome", ["fail", "cancel"])
def test_failing_or_cancelling_leaves_the_order_unpaid_without_a_notify(outcome):
    order = make_order()
    assert (
        Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": outcome}).status_code == 302
    )
    order.refresh_from_db()
    assert (order.state, order.last_outcome) == ("pending", outcome)
    assert not SandboxNotifyDelivery.objects.exists()


def test_an_unknown_outcome_or_order_is_a_clear_4xx():
    order = make_order()
    assert (
        Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "steal"}).status_code == 400
    )
    assert Client().get("/sandbox/pay/sp_NOPE/").status_code == 404
    order.refresh_from_db()
    assert order.state == "pending"
    assert Client().get("/sandbox/pay/").status_code == 200


def test_the_wechat_gateway_answers_unsigned_and_malformed_requests_in_its_own_format():
    unsigned = Client().post(
        "/sandbox/wechatpay/v3/pay/transactions/jsapi", "{}", content_type="application/json"
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "SIGN_ERROR"
    assert unsigned["Request-ID"]
    config = wechatpay_config()
    for body, code in ((b"not json", "PARAM_ERROR"), (b'{"mchid":"1900000001"}', "PARAM_ERROR")):
        auth = proto.build_authorization(
            method="POST",
            canonical_url="/v3/pay/transactions/jsapi",
            body=body,
            mchid=config.mchid,
            serial_no=config.cert_serial,
            private_key=config.private_key,
        )
        answer = Client().post(
            "/sandbox/wechatpay/v3/pay/transactions/jsapi",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            HTTP_WECHATPAY_SERIAL=config.platform.public_key_id,
        )
        assert (answer.status_code, answer.json()["code"]) == (400, code)
        # error answers are signed too, and verify with the platform key
        assert proto.verify_signed_message(
            headers=dict(answer.headers), body=answer.content, platform=config.platform
        )
    wrong_method = Client().get("/sandbox/wechatpay/v3/pay/transactions/jsapi")
    assert wrong_method.status_code == 405
    assert not SandboxPaymentOrder.objects.exists()


def test_the_alipay_gateway_answers_garbage_with_an_error_response():
    answer = Client().post("/sandbox/alipay/gateway.do", {"method": "alipay.trade.query"})
    node = json.loads(answer.content)["error_response"]
    assert (answer.status_code, node["code"], node["sub_code"]) == (
        200,
        "40002",
        "isv.invalid-app-id",
    )
    unknown = Client().get("/sandbox/alipay/gateway.do", {"method": "alipay.nothing"})
    assert json.loads(unknown.content)["error_response"]["sub_code"] == "isv.invalid-method"
    repeated = Client().get("/sandbox/alipay/gateway.do?method=a&method=b")
    assert json.loads(repeated.content)["error_response"]["code"] == "40002"


def test_an_order_past_its_time_expire_cannot_be_paid():
    import datetime as dt

    from heatdesk.core import clock
    from heatdesk.payments.providers.wechatpay_protocol import format_time

    order = make_order(time_expire=format_time(clock.now() - dt.timedelta(minutes=1)))
    answer = Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "succeed"})
    assert answer.status_code == 400
    assert "支付截止时间" in answer.content.decode()
    order.refresh_from_db()
    assert order.state == "pending"
    assert not SandboxNotifyDelivery.objects.exists()
