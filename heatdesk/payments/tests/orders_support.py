"""Helpers for order, notify and settlement tests: a bound resident with issued bills, the
simulators served by the live server with notifies sent back to our own endpoints, and the
payer's actions at the simulated cashier."""

import time
from typing import Any

import pytest
import time_machine
from django.test import Client

from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.services import bill_issue
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.models import HouseBinding
from heatdesk.payments.models import PaymentAlert, PaymentOrder, ProviderNotify
from heatdesk.sandbox import courier
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxNotifyDelivery, SandboxPaymentOrder
from heatdesk.sandbox.services import wechat_code_issue

BILL_FEN = 223750  # 89.50㎡ × 25.00 元, the factory house and tariff
# Inside the season's discount-free, late-fee-free window (due 31 Dec, late fees from 1 Jan).
NOON = __import__("datetime").datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture
def frozen_day():
    """Mid-November Beijing time: the bill owes exactly its total (no fee, no discount). The
    clock ticks, so provider timestamps and the courier still work."""
    with time_machine.travel(NOON, tick=True) as traveller:
        yield traveller


@pytest.fixture
def bills(db, frozen_day, resident, neighbour, house_a, house_b, finance):
    """House A bound to the resident, house B to the neighbour, one issued bill each."""
    season = make_season()
    make_tariff(season)
    HouseBinding.objects.create(user=resident, house=house_a, relation="owner")
    HouseBinding.objects.create(user=neighbour, house=house_b, relation="owner")
    a = bill_issue(house=house_a, season=season, issued_by=finance)
    b = bill_issue(house=house_b, season=season, issued_by=finance)
    return a, b


@pytest.fixture
def sim(live_server, payment_settings):
    """Our clients talk to the simulators on the live server, which notify our endpoints."""
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{live_server.url}/payments/notify/wechatpay"
    payment_settings.ALIPAY_NOTIFY_URL = f"{live_server.url}/payments/notify/alipay"
    payment_settings.ALIPAY_RETURN_URL = f"{live_server.url}/m/pay/return"
    knobs_set(retry_scale=0.001)
    return live_server


def openid_for(settings: Any, key: str = "payer") -> str:
    return wechat_code_issue(appid=settings.WECHATPAY_APPID, user_key=key).openid


def sim_order(order: PaymentOrder) -> SandboxPaymentOrder:
    return SandboxPaymentOrder.objects.get(out_trade_no=order.out_trade_no)


def cashier_pay(order: PaymentOrder, outcome: str = "succeed") -> None:
    """The payer chooses at the simulated cashier (the page first, as a scan would)."""
    public_id = sim_order(order).public_id
    client = Client()
    client.get(f"/sandbox/pay/{public_id}/")
    answer = client.post(f"/sandbox/pay/{public_id}/", {"outcome": outcome})
    assert answer.status_code == 302, answer.content.decode()[:300]


def wait_until(predicate: Any, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def wait_delivered(order: PaymentOrder, *, count: int = 1) -> list[SandboxNotifyDelivery]:
    """Wait until the simulator has finished delivering this order's notifies."""

    def done() -> bool:
        rows = SandboxNotifyDelivery.objects.filter(order__out_trade_no=order.out_trade_no)
        return rows.count() >= count and not rows.filter(state="pending").exists()

    wait_until(done)
    courier.deliver_due()
    return list(SandboxNotifyDelivery.objects.filter(order__out_trade_no=order.out_trade_no))


def payments_of(house: Any) -> list[tuple[int, str]]:
    return list(
        LedgerEntry.objects.filter(house=house, kind=LedgerEntry.Kind.PAYMENT)
        .order_by("id")
        .values_list("amount_fen", "source_id")
    )


def bill_status(bill: Bill) -> tuple[str, int]:
    row = Bill.objects.get(pk=bill.pk)
    return row.status, row.paid_fen


def alerts(kind: str) -> list[PaymentAlert]:
    return list(PaymentAlert.objects.filter(kind=kind).order_by("id"))


def notifies() -> int:
    return ProviderNotify.objects.count()
