"""The simulators' notify delivery and its knobs: delay, duplicate, reorder, drop, retries."""

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from heatdesk.payments.notify import alipay_parse_notify, wechatpay_parse_notify
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import alipay_client, wechatpay_client
from heatdesk.payments.tests.support import post_json
from heatdesk.sandbox.courier import ALIPAY_RETRIES, WECHATPAY_RETRIES
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxNotifyDelivery, SandboxPaymentOrder
from heatdesk.sandbox.services import wechat_code_issue


@pytest.fixture
def sim(live_server, payment_settings, receiver):
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    payment_settings.ALIPAY_NOTIFY_URL = f"{receiver.url}/notify/alipay"
    knobs_set(retry_scale=0.001)
    return live_server


def wechat_paid(settings, no, fen=100):
    client = wechatpay_client()
    openid = wechat_code_issue(appid=settings.WECHATPAY_APPID, user_key="courier").openid
    client.create_jsapi_order(
        wx.jsapi_order_body(
            client.config, out_trade_no=no, description="采暖费", amount_fen=fen, openid=openid
        )
    )
    order = SandboxPaymentOrder.objects.get(out_trade_no=no)
    assert (
        Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "succeed"}).status_code == 302
    )


def test_a_delayed_notify_arrives_late(sim, settings, receiver):
    knobs_set(out_trade_no="HT-DELAY-1", notify_delay=1.0)
    started = time.monotonic()
    wechat_paid(settings, "HT-DELAY-1")
    time.sleep(0.5)
    assert receiver.received == []
    receiver.wait_for(1)
    assert time.monotonic() - started >= 1.0
    # it is signed when sent, so a delay does not make it stale
    assert wechatpay_parse_notify(receiver.received[0].headers, receiver.received[0].body).paid


def test_a_duplicated_notify_arrives_several_times_with_one_event_id(sim, settings, receiver):
    knobs_set(out_trade_no="HT-DUP-1", notify_duplicate=2)
    wechat_paid(settings, "HT-DUP-1")
    received = receiver.settle()
    events = {wechatpay_parse_notify(r.headers, r.body).event_id for r in received}
    assert (len(received), len(events)) == (3, 1)
    delivery = SandboxNotifyDelivery.objects.get()
    assert (delivery.state, delivery.delivered, delivery.attempts) == ("delivered", 3, 3)


def test_a_reordered_notify_comes_after_the_next_one(sim, settings, receiver):
    knobs_set(out_trade_no="HT-REORDER-1", notify_reorder=True)
    wechat_paid(settings, "HT-REORDER-1")
    time.sleep(0.3)
    assert receiver.received == []
    wechat_paid(settings, "HT-REORDER-2")
    received = receiver.wait_for(2)
    order = [wechatpay_parse_notify(r.headers, r.body).out_trade_no for r in received]
    assert order == ["HT-REORDER-2", "HT-REORDER-1"]


def test_a_dropped_notify_never_arrives_and_the_query_still_knows(sim, settings, receiver):
    knobs_set(out_trade_no="HT-DROP-1", notify_drop=True)
    wechat_paid(settings, "HT-DROP-1")
    assert receiver.settle() == []
    assert SandboxNotifyDelivery.objects.get().state == "dropped"
    assert wechatpay_client().query_order("HT-DROP-1").trade_state == "SUCCESS"


def test_wechatpay_retries_until_acknowledged(sim, settings, receiver):
    receiver.answer = lambda index, _: (
        (500, b'{"code":"FAIL","message":"busy"}') if index < 2 else (200, b"")
    )
    wechat_paid(settings, "HT-RETRY-1")
    received = receiver.wait_for(3)
    assert len({r.headers["Wechatpay-Nonce"] for r in received}) == 3  # signed afresh each time
    assert len({wechatpay_parse_notify(r.headers, r.body).event_id for r in received}) == 1
    assert receiver.settle() == received
    delivery = SandboxNotifyDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)


def test_a_notify_nobody_acknowledges_is_given_up_after_the_schedule(sim, settings, receiver):
    knobs_set(retry_scale=0.00001)
    receiver.answer = lambda index, _: (404, b"")
    wechat_paid(settings, "HT-GIVEUP-1")
    received = receiver.wait_for(len(WECHATPAY_RETRIES) + 1)
    assert receiver.settle() == received
    assert SandboxNotifyDelivery.objects.get().state == "failed"


@pytest.mark.parametrize("ack", [b"SUCCESS", b"success\n", b"<html>success</html>", b"fail"])
def test_alipay_stops_only_on_the_exact_body_success(sim, receiver, ack):
    receiver.answer = lambda index, _: (200, ack if index == 0 else b"success")
    client = alipay_client()
    qr = client.precreate(out_trade_no="HT-ACK-1", subject="采暖费", amount_fen=100)
    assert Client().post(urlsplit(qr).path, {"outcome": "succeed"}).status_code == 302
    received = receiver.wait_for(2)
    assert receiver.settle() == received
    assert received[0].body == received[1].body
    assert alipay_parse_notify(dict(parse_qsl(received[1].body.decode()))).paid
    assert len(ALIPAY_RETRIES) == 7


def test_knobs_can_be_set_over_http(sim, settings, receiver):
    status, _ = post_json(
        f"{sim.url}/sandbox/payments/knobs", {"out_trade_no": "HT-HTTP-1", "notify_drop": True}
    )
    assert status == 200
    status, answer = post_json(f"{sim.url}/sandbox/payments/knobs", {"no_such_knob": 1})
    assert (status, answer["code"]) == (400, "invalid_knob")
    wechat_paid(settings, "HT-HTTP-1")
    assert receiver.settle() == []
    status, _ = post_json(f"{sim.url}/sandbox/payments/knobs", {"reset": True})
    assert status == 200
    knobs_set(retry_scale=0.001)
    wechat_paid(settings, "HT-HTTP-2")
    assert len(receiver.wait_for(1)) == 1


def test_a_signtest_probe_comes_first_and_our_parser_refuses_it(sim, settings, receiver):
    from heatdesk.payments.providers.errors import NotifyRejected

    knobs_set(out_trade_no="HT-PROBE-1", notify_signtest=True)
    receiver.answer = lambda index, _: (400, b'{"code":"FAIL"}') if index == 0 else (204, b"")
    wechat_paid(settings, "HT-PROBE-1")
    probe, genuine = receiver.wait_for(2)
    assert probe.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    with pytest.raises(NotifyRejected, match="SIGNTEST"):
        wechatpay_parse_notify(probe.headers, probe.body)
    assert wechatpay_parse_notify(genuine.headers, genuine.body).paid
    # the courier records the answer just after our receiver sent it: wait for that write
    expected = [("SIGNTEST", "delivered", 400), ("TRANSACTION.SUCCESS", "delivered", 204)]
    deadline = time.monotonic() + 10
    while True:
        states = list(
            SandboxNotifyDelivery.objects.order_by("id").values_list(
                "event_type", "state", "last_status"
            )
        )
        if states == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert states == expected
