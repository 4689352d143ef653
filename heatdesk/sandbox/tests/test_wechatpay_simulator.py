"""Our WeChat Pay client against the simulated WeChat Pay, over real HTTP (live_server).

The simulator verifies our signatures over the raw bytes and signs its answers; our client
verifies them; the notify it delivers is verified and decrypted by our parse function.
"""

import datetime as dt
import gzip
import json
import time

import pytest

from heatdesk.core import clock
from heatdesk.payments.notify import wechatpay_parse_notify
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import wechatpay_client, wechatpay_config
from heatdesk.payments.providers.errors import (
    ProviderOutcomeUnknown,
    ProviderRefused,
    ProviderTimeout,
)
from heatdesk.payments.providers.wechatpay_bill import (
    BillFormatError,
    check_summary,
    parse_trade_bill,
)
from heatdesk.payments.tests.support import post_json
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxNotifyDelivery, SandboxPaymentOrder
from heatdesk.sandbox.services import wechat_code_issue


@pytest.fixture
def sim(live_server, payment_settings, receiver):
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    knobs_set(retry_scale=0.001)
    return live_server


def openid(settings, user="alice"):
    return wechat_code_issue(appid=settings.WECHATPAY_APPID, user_key=user).openid


def jsapi(client, settings, no="HT202611240001", fen=223750, **kw):
    body = wx.jsapi_order_body(
        client.config,
        out_trade_no=no,
        description="采暖费 2026-2027",
        amount_fen=fen,
        openid=openid(settings),
        **kw,
    )
    return body, client.create_jsapi_order(body)


def pay(live_server, order_no, outcome="succeed"):
    order = SandboxPaymentOrder.objects.get(out_trade_no=order_no)
    response = live_server_client(live_server).post(
        f"/sandbox/pay/{order.public_id}/", {"outcome": outcome}
    )
    assert response.status_code == 302, response.content
    return order


def live_server_client(live_server):
    from django.test import Client

    return Client()


def test_create_pay_notify_query_refund_end_to_end(sim, settings, receiver):
    client = wechatpay_client()
    # given a JSAPI order
    body, prepay_id = jsapi(client, settings)
    assert prepay_id.startswith("wx")
    params = client.jsapi_pay_params(prepay_id)
    assert params["package"] == f"prepay_id={prepay_id}"
    assert client.query_order("HT202611240001").trade_state == "NOTPAY"
    # when the payer pays through wx.requestPayment (paySign checked by the simulator)
    status, answer = post_json(
        f"{sim.url}/sandbox/wechatpay/request-payment", {**params, "outcome": "succeed"}
    )
    assert (status, answer) == (200, {"errMsg": "requestPayment:ok"})
    # then the notify arrives, verifies and decrypts with our parse function
    [received] = receiver.wait_for(1)
    assert received.path == "/notify/wechatpay"
    notify = wechatpay_parse_notify(received.headers, received.body)
    assert (notify.out_trade_no, notify.amount_fen, notify.paid) == ("HT202611240001", 223750, True)
    # and the query says SUCCESS with the same transaction id
    paid = client.query_order("HT202611240001")
    assert (paid.trade_state, paid.total_fen, paid.transaction_id) == (
        "SUCCESS",
        223750,
        notify.transaction_id,
    )
    # a paid order cannot be closed or re-created
    with pytest.raises(ProviderRefused) as closed:
        client.close_order("HT202611240001")
    assert closed.value.code == "ORDER_PAID"
    with pytest.raises(ProviderRefused) as again:
        client.create_jsapi_order(body)
    assert again.value.code == "ORDERPAID"
    # when we refund part of it
    refund_body = wx.refund_body(
        client.config,
        out_trade_no="HT202611240001",
        out_refund_no="RF202611240001",
        refund_fen=50000,
        total_fen=223750,
        reason="多缴退费",
    )
    refund = client.create_refund(refund_body)
    assert (refund.status, refund.refund_fen) == ("PROCESSING", 50000)
    # then the refund completes, notifies, and the repeat is idempotent
    refund_notify = wechatpay_parse_notify(*_last(receiver.wait_for(2)))
    assert (refund_notify.kind, refund_notify.out_refund_no, refund_notify.refund_fen) == (
        "refund",
        "RF202611240001",
        50000,
    )
    assert client.query_refund("RF202611240001").status == "SUCCESS"
    assert client.create_refund(refund_body).refund_id == refund.refund_id
    assert client.query_order("HT202611240001").trade_state == "REFUND"
    # a refund beyond what is left is refused
    too_much = wx.refund_body(
        client.config,
        out_trade_no="HT202611240001",
        out_refund_no="RF202611240002",
        refund_fen=173751,
        total_fen=223750,
    )
    with pytest.raises(ProviderRefused, match="可退金额"):
        client.create_refund(too_much)


def _last(received):
    return received[-1].headers, received[-1].body


def test_native_order_close_and_reentry(sim, settings):
    client = wechatpay_client()
    body = wx.native_order_body(
        client.config, out_trade_no="HT-NATIVE-1", description="采暖费", amount_fen=100
    )
    code_url = client.create_native_order(body)
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    # the identical body re-enters; a changed one is refused
    assert client.create_native_order(body) == code_url
    changed = wx.native_order_body(
        client.config, out_trade_no="HT-NATIVE-1", description="采暖费", amount_fen=101
    )
    with pytest.raises(ProviderRefused) as refused:
        client.create_native_order(changed)
    assert (refused.value.code, refused.value.status) == ("INVALID_REQUEST", 400)
    # closing is re-entrant and the query shows CLOSED
    client.close_order("HT-NATIVE-1")
    client.close_order("HT-NATIVE-1")
    assert client.query_order("HT-NATIVE-1").trade_state == "CLOSED"
    with pytest.raises(ProviderRefused) as missing:
        client.query_order("HT-NEVER-SENT")
    assert (missing.value.code, missing.value.status) == ("ORDER_NOT_EXIST", 404)


def test_a_timeout_after_create_is_unknown_and_the_identical_retry_gets_the_same_prepay_id(
    sim, settings
):
    knobs_set(out_trade_no="HT-TIMEOUT-1", timeout_after_create=1.0)
    settings.PAYMENTS_PROVIDER_TIMEOUT_SECONDS = 0.3
    client = wechatpay_client()
    body = wx.jsapi_order_body(
        client.config,
        out_trade_no="HT-TIMEOUT-1",
        description="采暖费",
        amount_fen=500,
        openid=openid(settings),
    )
    with pytest.raises(ProviderTimeout):
        client.create_jsapi_order(body)
    # the simulator did create it; the replay of the same bytes returns its prepay_id
    time.sleep(0.8)
    knobs_set(out_trade_no="HT-TIMEOUT-1", timeout_after_create=None)
    prepay_id = client.create_jsapi_order(body)
    assert SandboxPaymentOrder.objects.get(out_trade_no="HT-TIMEOUT-1").prepay_id == prepay_id


def test_a_system_error_after_create_is_an_unknown_outcome_not_a_refusal(sim, settings):
    knobs_set(out_trade_no="HT-FAIL-1", fail_after_create=True)
    client = wechatpay_client()
    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        jsapi(client, settings, no="HT-FAIL-1")
    assert not isinstance(unknown.value, ProviderRefused)
    assert client.query_order("HT-FAIL-1").trade_state == "NOTPAY"


def test_a_bad_signature_gets_401_sign_error_and_creates_nothing(sim, settings, stranger_key):
    config = wechatpay_config()
    from dataclasses import replace

    forged = wx.WechatPayClient(replace(config, private_key=stranger_key))
    with pytest.raises(ProviderRefused) as refused:
        jsapi(forged, settings, no="HT-FORGED-1")
    assert (refused.value.status, refused.value.code) == (401, "SIGN_ERROR")
    wrong_serial = wx.WechatPayClient(replace(config, cert_serial="0123456789ABCDEF"))
    with pytest.raises(ProviderRefused, match="SIGN_ERROR"):
        wrong_serial.query_order("HT-FORGED-1")
    assert not SandboxPaymentOrder.objects.exists()


def test_an_answer_signed_by_someone_else_is_an_unknown_outcome(sim, settings, stranger_key):
    from dataclasses import replace

    from heatdesk.payments.providers.wechatpay_protocol import PlatformKeys

    config = wechatpay_config()
    wrong_platform = PlatformKeys.build(
        public_key=stranger_key.public_key(), public_key_id=config.platform.public_key_id
    )
    client = wx.WechatPayClient(replace(config, platform=wrong_platform))
    with pytest.raises(ProviderOutcomeUnknown, match="does not verify"):
        jsapi(client, settings, no="HT-MITM-1")
    # the order exists at the provider all the same: that is why this is "unknown"
    assert SandboxPaymentOrder.objects.filter(out_trade_no="HT-MITM-1").exists()


def test_certificate_mode_answers_are_signed_with_the_platform_certificate(
    sim, settings, payment_keys
):
    from cryptography.hazmat.primitives import serialization

    settings.WECHATPAY_PLATFORM_CERTIFICATES = payment_keys.wechatpay_platform_cert.public_bytes(
        serialization.Encoding.PEM
    ).decode()
    client = wechatpay_client()
    assert client.config.platform.public_key_id == ""
    _, prepay_id = jsapi(client, settings, no="HT-CERT-1")
    assert client.query_order("HT-CERT-1").trade_state == "NOTPAY"
    assert prepay_id


def test_paysign_is_checked_by_the_cashier_stand_in(sim, settings, stranger_key):
    client = wechatpay_client()
    _, prepay_id = jsapi(client, settings, no="HT-PAYSIGN-1")
    from heatdesk.payments.providers.wechatpay_protocol import jsapi_pay_params

    forged = jsapi_pay_params(
        appid=settings.WECHATPAY_APPID, prepay_id=prepay_id, private_key=stranger_key
    )
    status, answer = post_json(f"{sim.url}/sandbox/wechatpay/request-payment", forged)
    assert (status, answer["errMsg"]) == (400, "requestPayment:fail 支付验证签名失败")
    cancel = {**client.jsapi_pay_params(prepay_id), "outcome": "cancel"}
    status, answer = post_json(f"{sim.url}/sandbox/wechatpay/request-payment", cancel)
    assert (status, answer["errMsg"]) == (200, "requestPayment:fail cancel")
    assert client.query_order("HT-PAYSIGN-1").trade_state == "NOTPAY"
    assert not SandboxNotifyDelivery.objects.exists()


def test_a_refund_kept_processing_settles_by_the_control_endpoint(sim, settings, receiver):
    client = wechatpay_client()
    jsapi(client, settings, no="HT-REFUND-1", fen=1000)
    pay(sim, "HT-REFUND-1")
    receiver.wait_for(1)
    knobs_set(out_refund_no="RF-SLOW-1", refund_processing=True)
    body = wx.refund_body(
        client.config,
        out_trade_no="HT-REFUND-1",
        out_refund_no="RF-SLOW-1",
        refund_fen=1000,
        total_fen=1000,
    )
    assert client.create_refund(body).status == "PROCESSING"
    assert client.query_refund("RF-SLOW-1").status == "PROCESSING"
    status, answer = post_json(
        f"{sim.url}/sandbox/payments/refunds/wechatpay/RF-SLOW-1/settle", {"status": "ABNORMAL"}
    )
    assert (status, answer["status"]) == (200, "ABNORMAL")
    assert client.query_refund("RF-SLOW-1").status == "ABNORMAL"
    notify = wechatpay_parse_notify(*_last(receiver.wait_for(2)))
    assert (notify.event_type, notify.status) == ("REFUND.ABNORMAL", "ABNORMAL")


def test_trade_bill_download_checks_the_hash_and_shows_injected_discrepancies(
    sim, settings, receiver
):
    client = wechatpay_client()
    yesterday = clock.local_today() - dt.timedelta(days=1)
    with pytest.raises(ProviderRefused) as not_ready:
        client.request_trade_bill(clock.local_today())
    assert (not_ready.value.code, not_ready.value.retryable) == ("STATEMENT_CREATING", True)
    with pytest.raises(ProviderRefused, match="NO_STATEMENT_EXIST"):
        client.request_trade_bill(yesterday)
    knobs_set(bill_same_day=True)
    for no, fen in (("HT-BILL-1", 12345), ("HT-BILL-2", 600)):
        jsapi(client, settings, no=no, fen=fen)
        pay(sim, no)
    receiver.wait_for(2)
    client.create_refund(
        wx.refund_body(
            client.config,
            out_trade_no="HT-BILL-1",
            out_refund_no="RF-BILL-1",
            refund_fen=345,
            total_fen=12345,
        )
    )
    # given an exact bill
    ticket = client.request_trade_bill(clock.local_today())
    bill = parse_trade_bill(client.download_trade_bill(ticket))
    check_summary(bill)
    rows = {(r.out_trade_no, r.trade_state): r for r in bill.rows}
    assert rows[("HT-BILL-1", "SUCCESS")].settlement_fen == 12345
    assert rows[("HT-BILL-2", "SUCCESS")].settlement_fen == 600
    refund_row = rows[("HT-BILL-1", "REFUND")]
    assert (refund_row.refund_fen, refund_row.out_refund_no, refund_row.fee.startswith("-")) == (
        345,
        "RF-BILL-1",
        True,
    )
    assert bill.summary.count == 3
    # when discrepancies are injected, the parsed bill shows them
    knobs_set(
        bill={
            "omit": ["HT-BILL-2"],
            "amount": {"HT-BILL-1": 12300},
            "extra": [{"out_trade_no": "HT-GHOST-1", "total_fen": 999}],
        }
    )
    bill = parse_trade_bill(
        client.download_trade_bill(client.request_trade_bill(clock.local_today()))
    )
    paid = {r.out_trade_no: r.settlement_fen for r in bill.rows if r.trade_state == "SUCCESS"}
    assert paid == {"HT-BILL-1": 12300, "HT-GHOST-1": 999}
    # a bad summary is caught, and a bad hash stops the download
    knobs_set(bill={"bad_summary": True})
    bad = parse_trade_bill(
        client.download_trade_bill(client.request_trade_bill(clock.local_today()))
    )
    with pytest.raises(BillFormatError, match="应结订单总金额"):
        check_summary(bad)
    knobs_set(bill={"bad_hash": True})
    with pytest.raises(wx.BillHashMismatch):
        client.download_trade_bill(client.request_trade_bill(clock.local_today()))


def test_the_bill_file_is_gzip_of_the_hashed_bytes(sim, settings, receiver):
    import hashlib
    import urllib.request

    knobs_set(bill_same_day=True)
    client = wechatpay_client()
    jsapi(client, settings, no="HT-GZ-1", fen=100)
    pay(sim, "HT-GZ-1")
    ticket = client.request_trade_bill(clock.local_today())
    answer = client._send("GET", ticket.download_url.split("/sandbox/wechatpay", 1)[1], b"")
    assert hashlib.sha1(gzip.decompress(answer.body)).hexdigest() == ticket.hash_value  # noqa: S324
    assert "wechatpay-signature" not in answer.headers
    # the download is a signed request: without Authorization it is refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(ticket.download_url, timeout=5)  # noqa: S310
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["code"] == "SIGN_ERROR"


def test_a_query_answered_with_a_system_error_is_unknown_until_the_knob_is_off(sim, settings):
    client = wechatpay_client()
    jsapi(client, settings, no="HT-QFAIL-1")
    knobs_set(out_trade_no="HT-QFAIL-1", fail_query=True)
    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        client.query_order("HT-QFAIL-1")
    assert not isinstance(unknown.value, ProviderRefused)
    assert "SYSTEM_ERROR" in str(unknown.value) or "500" in str(unknown.value)
    assert SandboxPaymentOrder.objects.get(out_trade_no="HT-QFAIL-1").state == "pending"
    knobs_set(out_trade_no="HT-QFAIL-1", fail_query=None)
    assert client.query_order("HT-QFAIL-1").trade_state == "NOTPAY"
