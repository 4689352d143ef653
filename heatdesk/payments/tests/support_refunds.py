"""Paid orders for refund tests: the trade is created and paid in the simulator over real
HTTP (so the provider accepts a refund), then settled here by `order_settle` (PAID, ledger)."""

import json
import secrets
from typing import Any

import pytest
from django.db.models import Sum

from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.selectors.account import credit_fen
from heatdesk.payments.models import Channel, PaymentOrder, PaymentOrderItem, Provider
from heatdesk.payments.notify import VerifiedNotify, alipay_parse_notify, wechatpay_parse_notify
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import alipay_client, wechatpay_client
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.support import Receiver, courier_idle
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder
from heatdesk.sandbox.payment_services import order_pay_outcome

CHANNEL = {
    Provider.WECHATPAY: Channel.WECHAT_NATIVE,
    Provider.ALIPAY: Channel.ALIPAY_PRECREATE,
    Provider.COUNTER: Channel.CASH,
}


@pytest.fixture
def sim(live_server: Any, payment_settings: Any, receiver: Receiver) -> Any:
    """Both simulators served by the live server; their notifies go to `receiver`."""
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.ALIPAY_NOTIFY_URL = f"{receiver.url}/notify/alipay"
    knobs_set(retry_scale=0.001)
    return live_server


def paid_order(
    *, provider: str, bill: Bill, amount_fen: int | None = None, collector: Any = None
) -> PaymentOrder:
    """An order for `bill` (its whole total unless `amount_fen`), paid at the provider and
    settled locally."""
    amount = amount_fen or bill.total_fen
    no = "HT" + secrets.token_hex(8).upper()
    order = PaymentOrder.objects.create(
        out_trade_no=no,
        provider=provider,
        channel=CHANNEL[provider],
        status=PaymentOrder.Status.PENDING,
        amount_fen=amount,
        description="采暖费",
        collector=collector,
    )
    PaymentOrderItem.objects.create(order=order, house=bill.house, bill=bill, amount_fen=amount)
    transaction_id = ""
    if provider == Provider.WECHATPAY:
        client = wechatpay_client()
        body = wx.native_order_body(
            client.config, out_trade_no=no, description="采暖费", amount_fen=amount
        )
        client.create_native_order(body)
    elif provider == Provider.ALIPAY:
        alipay_client().precreate(out_trade_no=no, subject="采暖费", amount_fen=amount)
    if provider != Provider.COUNTER:
        trade = SandboxPaymentOrder.objects.get(out_trade_no=no)
        transaction_id = order_pay_outcome(order_id=trade.id, outcome="succeed").transaction_id
        courier_idle(trade.out_trade_no)
    return order_settle(order=order, transaction_id=transaction_id, paid_fen=amount)


def refund_notifies(
    receiver: Receiver, *, count: int, timeout: float = 10.0
) -> list[VerifiedNotify]:
    """Wait until `count` refund notifies arrived; return them verified, in arrival order."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in _parsed(receiver) if n.kind == "refund"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _parsed(receiver: Receiver) -> list[VerifiedNotify]:
    out = []
    with receiver.lock:
        items = list(receiver.received)
    for item in items:
        if "wechatpay" in item.path:
            out.append(wechatpay_parse_notify(item.headers, item.body))
        else:
            from urllib.parse import parse_qsl

            out.append(alipay_parse_notify(dict(parse_qsl(item.body.decode()))))
    return out


def money_state(house: Any) -> dict[str, Any]:
    """The house's account in one comparable value: bills, ledger sum, credit, refund entries."""
    bills = list(Bill.objects.filter(house=house).order_by("id").values_list("status", "paid_fen"))
    owed = LedgerEntry.objects.filter(house=house).aggregate(s=Sum("amount_fen"))["s"] or 0
    refunds = list(
        LedgerEntry.objects.filter(house=house, kind="refund")
        .order_by("id")
        .values_list("source_id", "amount_fen")
    )
    return {
        "bills": bills,
        "owed": owed,
        "credit": credit_fen(house_id=house.pk),
        "refunds": refunds,
    }


def body_of(refund: Any) -> dict[str, Any]:
    return json.loads(refund.provider_request)
