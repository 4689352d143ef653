"""The simulated WeChat Pay enforces WeChat's own refund limits, over real HTTP (payments.md
§4.5 #26): at most 50 refunds per order, and none once a year has passed since the payment.
Our refund service refuses both before calling (payments/tests/test_refunds.py); these show the
provider would refuse them too, so the local check is not the only guard."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from heatdesk.core import clock
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import wechatpay_client
from heatdesk.payments.providers.errors import ProviderRefused
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder, SandboxPaymentRefund

pytestmark = pytest.mark.django_db(transaction=True)
TOTAL = 10000


@pytest.fixture
def sim(live_server, payment_settings, receiver):
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    knobs_set(retry_scale=0.001)
    return live_server


def _paid(no: str) -> None:
    # No notifies: this is about the refund calls (and the suite's in-memory SQLite is one
    # connection shared by the server and the courier threads).
    knobs_set(out_trade_no=no, notify_drop=True)
    client = wechatpay_client()
    body = wx.native_order_body(
        client.config, out_trade_no=no, description="采暖费", amount_fen=TOTAL
    )
    client.create_native_order(body)
    order = SandboxPaymentOrder.objects.get(out_trade_no=no)
    assert (
        Client().post(f"/sandbox/pay/{order.public_id}/", {"outcome": "succeed"}).status_code == 302
    )


def _refund(no: str, refund_no: str, fen: int = 1) -> None:
    client = wechatpay_client()
    client.create_refund(
        wx.refund_body(
            client.config, out_trade_no=no, out_refund_no=refund_no, refund_fen=fen, total_fen=TOTAL
        )
    )


@pytest.mark.usefixtures("sim")
def test_the_51st_refund_of_an_order_is_refused_by_the_provider():
    _paid("HT-LIMIT-1")
    for n in range(50):
        _refund("HT-LIMIT-1", f"RF-LIMIT-{n:02d}")
    with pytest.raises(ProviderRefused) as refused:
        _refund("HT-LIMIT-1", "RF-LIMIT-50")
    assert (refused.value.status, refused.value.code) == (400, "INVALID_REQUEST")
    assert "50" in refused.value.provider_message
    assert SandboxPaymentRefund.objects.count() == 50
    assert not SandboxPaymentRefund.objects.filter(out_refund_no="RF-LIMIT-50").exists()


@pytest.mark.usefixtures("sim")
def test_a_refund_a_year_after_the_payment_is_refused_by_the_provider():
    _paid("HT-YEAR-1")
    later = time_machine.travel(clock.now() + dt.timedelta(days=366), tick=True)
    with later, pytest.raises(ProviderRefused) as refused:
        _refund("HT-YEAR-1", "RF-YEAR-1", fen=100)
    assert (refused.value.status, refused.value.code) == (400, "INVALID_REQUEST")
    assert "1 年" in refused.value.provider_message
    assert not SandboxPaymentRefund.objects.exists()
    # within the year the same refund is accepted
    _refund("HT-YEAR-1", "RF-YEAR-1", fen=100)
    assert SandboxPaymentRefund.objects.get().amount_fen == 100
