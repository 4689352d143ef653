"""Our Alipay client against the simulated Alipay gateway, over real HTTP (live_server)."""

import datetime as dt
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from heatdesk.core import clock
from heatdesk.payments.notify import alipay_parse_notify
from heatdesk.payments.providers.alipay_bill import parse_bill_zip
from heatdesk.payments.providers.alipay_client import AlipayClient
from heatdesk.payments.providers.config import alipay_client, alipay_config
from heatdesk.payments.providers.errors import ProviderOutcomeUnknown, ProviderRefused
from heatdesk.payments.tests.support import post_json
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder


@pytest.fixture
def sim(live_server, payment_settings, receiver):
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.ALIPAY_NOTIFY_URL = f"{receiver.url}/notify/alipay"
    knobs_set(retry_scale=0.001)
    return live_server


def scan_and_pay(qr_code, outcome="succeed"):
    path = urlsplit(qr_code).path
    assert Client().get(path).status_code == 200  # scanning opens the cashier
    response = Client().post(path, {"outcome": outcome})
    assert response.status_code == 302, response.content


def form_of(received):
    return dict(parse_qsl(received.body.decode(), keep_blank_values=True))


def test_precreate_scan_pay_notify_query_refund_end_to_end(sim, receiver):
    client = alipay_client()
    # given a QR-code order; it does not exist for queries until it is scanned
    qr_code = client.precreate(
        out_trade_no="HT202611240001", subject="采暖费 2026-2027", amount_fen=223750
    )
    assert "/sandbox/pay/" in qr_code
    with pytest.raises(ProviderRefused) as missing:
        client.query(out_trade_no="HT202611240001")
    assert missing.value.code == "ACQ.TRADE_NOT_EXIST"
    assert (
        client.precreate(
            out_trade_no="HT202611240001", subject="采暖费 2026-2027", amount_fen=223750
        )
        == qr_code
    )
    # when the payer scans and pays
    scan_and_pay(qr_code)
    # then the signed notify arrives and our parse function accepts it
    [received] = receiver.wait_for(1)
    assert received.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    notify = alipay_parse_notify(form_of(received))
    assert (notify.out_trade_no, notify.amount_fen, notify.paid) == ("HT202611240001", 223750, True)
    trade = client.query(out_trade_no="HT202611240001")
    assert (trade.trade_status, trade.total_fen, trade.trade_no) == (
        "TRADE_SUCCESS",
        223750,
        notify.transaction_id,
    )
    # a paid trade cannot be closed
    with pytest.raises(ProviderRefused) as closed:
        client.close(out_trade_no="HT202611240001")
    assert closed.value.code == "ACQ.TRADE_STATUS_ERROR"
    # when part is refunded, twice with the same number
    first = client.refund(out_trade_no="HT202611240001", out_request_no="RF1", refund_fen=50000)
    again = client.refund(out_trade_no="HT202611240001", out_request_no="RF1", refund_fen=50000)
    assert (first.fund_change, first.refund_fee_fen) == (True, 50000)
    assert (again.fund_change, again.refund_fee_fen) == (False, 50000)
    assert client.refund_query(out_trade_no="HT202611240001", out_request_no="RF1").succeeded
    refund_notify = alipay_parse_notify(form_of(receiver.wait_for(2)[1]))
    assert (refund_notify.kind, refund_notify.refund_fen, refund_notify.out_refund_no) == (
        "refund",
        50000,
        "RF1",
    )
    # a retry with another amount, or a refund beyond the rest, is refused
    with pytest.raises(ProviderRefused, match="DISCORDANT_REPEAT_REQUEST"):
        client.refund(out_trade_no="HT202611240001", out_request_no="RF1", refund_fen=1)
    with pytest.raises(ProviderRefused, match="REFUND_AMT_NOT_EQUAL_TOTAL"):
        client.refund(out_trade_no="HT202611240001", out_request_no="RF2", refund_fen=173751)
    # the full rest closes the trade
    client.refund(out_trade_no="HT202611240001", out_request_no="RF2", refund_fen=173750)
    assert client.query(out_trade_no="HT202611240001").trade_status == "TRADE_CLOSED"


def test_an_unscanned_trade_cannot_be_closed_and_a_scanned_unpaid_one_can(sim):
    client = alipay_client()
    qr_code = client.precreate(out_trade_no="HT-CLOSE-1", subject="采暖费", amount_fen=100)
    with pytest.raises(ProviderRefused, match="ACQ.TRADE_NOT_EXIST"):
        client.close(out_trade_no="HT-CLOSE-1")
    scan_and_pay(qr_code, outcome="cancel")
    assert client.query(out_trade_no="HT-CLOSE-1").trade_status == "WAIT_BUYER_PAY"
    client.close(out_trade_no="HT-CLOSE-1")
    assert client.query(out_trade_no="HT-CLOSE-1").trade_status == "TRADE_CLOSED"
    with pytest.raises(ProviderRefused, match="ACQ.TRADE_HAS_CLOSE"):
        client.precreate(out_trade_no="HT-CLOSE-1", subject="采暖费", amount_fen=100)


def test_a_request_signed_with_another_key_gets_40002_invalid_signature(sim, stranger_key):
    forged = AlipayClient(replace(alipay_config(), private_key=stranger_key))
    with pytest.raises(ProviderRefused) as refused:
        forged.precreate(out_trade_no="HT-FORGED-1", subject="采暖费", amount_fen=100)
    assert (refused.value.status, refused.value.code) == (40002, "isv.invalid-signature")
    other_app = AlipayClient(replace(alipay_config(), app_id="2021000000000009"))
    with pytest.raises(ProviderRefused, match="isv.invalid-app-id"):
        other_app.query(out_trade_no="HT-FORGED-1")
    assert not SandboxPaymentOrder.objects.exists()


def test_an_answer_signed_by_someone_else_is_an_unknown_outcome(sim, stranger_key):
    client = AlipayClient(replace(alipay_config(), alipay_public_key=stranger_key.public_key()))
    with pytest.raises(ProviderOutcomeUnknown, match="does not verify"):
        client.precreate(out_trade_no="HT-MITM-1", subject="采暖费", amount_fen=100)


def test_service_unavailable_after_create_is_unknown(sim):
    knobs_set(out_trade_no="HT-20000-1", fail_after_create=True)
    with pytest.raises(ProviderOutcomeUnknown, match="isp.unknow-error"):
        alipay_client().precreate(out_trade_no="HT-20000-1", subject="采暖费", amount_fen=100)


def test_wap_pay_sends_the_browser_through_the_gateway_to_the_cashier(sim, receiver):
    url = alipay_client().wap_pay_url(
        out_trade_no="HT-WAP-1",
        subject="采暖费",
        amount_fen=8800,
        return_url="https://heat.example.cn/m/",
    )
    assert url.startswith(f"{sim.url}/sandbox/alipay/gateway.do?")
    browser = Client()
    parts = urlsplit(url)
    landing = browser.get(parts.path, dict(parse_qsl(parts.query)))
    assert landing.status_code == 302
    assert landing["Location"].startswith("/sandbox/pay/")
    assert browser.post(landing["Location"], {"outcome": "succeed"}).status_code == 302
    notify = alipay_parse_notify(form_of(receiver.wait_for(1)[0]))
    assert (notify.out_trade_no, notify.amount_fen) == ("HT-WAP-1", 8800)
    # a tampered amount in the browser's URL is refused by the gateway
    tampered = parts.query.replace("88.00", "0.01")
    assert browser.get(parts.path + "?" + tampered).status_code == 400


def test_a_refund_kept_processing_is_not_reported_as_done(sim, receiver):
    client = alipay_client()
    scan_and_pay(client.precreate(out_trade_no="HT-SLOW-1", subject="采暖费", amount_fen=500))
    receiver.wait_for(1)
    knobs_set(out_trade_no="HT-SLOW-1", refund_processing=True)
    refund = client.refund(out_trade_no="HT-SLOW-1", out_request_no="RF-SLOW-1", refund_fen=500)
    assert refund.fund_change is False
    status = client.refund_query(out_trade_no="HT-SLOW-1", out_request_no="RF-SLOW-1")
    assert (status.succeeded, status.refund_amount_fen) == (False, None)
    status_code, answer = post_json(
        f"{sim.url}/sandbox/payments/refunds/alipay/RF-SLOW-1/settle", {}
    )
    assert (status_code, answer["status"]) == (200, "SUCCESS")
    status = client.refund_query(out_trade_no="HT-SLOW-1", out_request_no="RF-SLOW-1")
    assert (status.succeeded, status.refund_amount_fen) == (True, 500)


def test_the_daily_bill_is_a_gbk_zip_with_injected_discrepancies(sim, receiver):
    client = alipay_client()
    with pytest.raises(ProviderRefused, match="isp.bill_not_exist"):
        client.bill_download_url(bill_date=clock.local_today())
    knobs_set(bill_same_day=True)
    for no, fen in (("HT-ABILL-1", 12345), ("HT-ABILL-2", 600)):
        scan_and_pay(client.precreate(out_trade_no=no, subject="采暖费,一期", amount_fen=fen))
    receiver.wait_for(2)
    client.refund(out_trade_no="HT-ABILL-1", out_request_no="RF-ABILL-1", refund_fen=345)
    bill = parse_bill_zip(
        client.download_bill(client.bill_download_url(bill_date=clock.local_today()))
    )
    rows = {(r.out_trade_no, r.kind): r for r in bill.rows}
    assert rows[("HT-ABILL-1", "交易")].amount_fen == 12345
    assert rows[("HT-ABILL-1", "退款")].amount_fen == -345
    assert rows[("HT-ABILL-1", "退款")].out_request_no == "RF-ABILL-1"
    assert rows[("HT-ABILL-2", "交易")].subject == "采暖费,一期"
    assert (bill.trade_count, bill.trade_received_fen) == (2, 12945)
    knobs_set(
        bill={
            "omit": ["HT-ABILL-2"],
            "amount": {"HT-ABILL-1": 12000},
            "extra": [{"out_trade_no": "HT-AGHOST-1", "total_fen": 1}],
        }
    )
    bill = parse_bill_zip(
        client.download_bill(client.bill_download_url(bill_date=clock.local_today()))
    )
    paid = {r.out_trade_no: r.amount_fen for r in bill.rows if r.kind == "交易"}
    assert paid == {"HT-ABILL-1": 12000, "HT-AGHOST-1": 1}


def test_the_bill_url_expires_after_thirty_seconds(sim, receiver):
    import time_machine

    client = alipay_client()
    knobs_set(bill_same_day=True)
    scan_and_pay(client.precreate(out_trade_no="HT-EXP-1", subject="采暖费", amount_fen=100))
    url = client.bill_download_url(bill_date=clock.local_today())
    with (
        time_machine.travel(clock.now() + dt.timedelta(seconds=31)),
        pytest.raises(ProviderRefused) as expired,
    ):
        client.download_bill(url)
    assert expired.value.code == "HTTP_404"


def test_a_query_answered_with_a_system_error_is_unknown_until_the_knob_is_off(sim):
    client = alipay_client()
    qr_code = client.precreate(out_trade_no="HT-QFAIL-1", subject="采暖费", amount_fen=100)
    assert Client().get(urlsplit(qr_code).path).status_code == 200  # scanned: the trade exists
    knobs_set(out_trade_no="HT-QFAIL-1", fail_query=True)
    with pytest.raises(ProviderOutcomeUnknown, match="isp.unknow-error") as unknown:
        client.query(out_trade_no="HT-QFAIL-1")
    assert not isinstance(unknown.value, ProviderRefused)
    knobs_set(out_trade_no="HT-QFAIL-1", fail_query=None)
    assert client.query(out_trade_no="HT-QFAIL-1").trade_status == "WAIT_BUYER_PAY"
