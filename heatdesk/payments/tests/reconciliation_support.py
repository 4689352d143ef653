"""Helpers for the janitor and reconciliation tests: real orders paid at the simulators.

An order is created for a real issued bill through `order_create`, sent to the simulator by
`order_prepare`, and paid at the simulator's cashier. Notifies go to a recording receiver, not
to HeatDesk: from our side every notify is lost, so only a query (janitor, reconciliation)
brings the payment in, which is what these tests are about.
"""

import datetime as dt
import itertools
from typing import Any

import pytest
from django.test import Client

from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.services.bills import bill_issue
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.models import HouseBinding
from heatdesk.payments.models import Channel, PaymentOrder
from heatdesk.payments.tests.support import courier_idle
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder
from heatdesk.testing import make_house

# Fixtures, for `from … import *` in the test modules (helpers are imported by name).
__all__ = ["season", "sims", "tariff"]

_keys = itertools.count(1)
FEN = 223750  # 89.50 m² × 25.00 yuan, no discount or late fee in late November


def beijing(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def sims(live_server, payment_settings, receiver):
    """Both simulators on the live server; their notifies reach only the receiver."""
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.ALIPAY_NOTIFY_URL = f"{receiver.url}/notify/alipay"
    payment_settings.PAYMENTS_RECONCILE_CARRY_DAYS = 2
    knobs_set(retry_scale=0.001)
    return live_server


@pytest.fixture
def season(db):
    return make_season()


@pytest.fixture
def tariff(season):
    return make_tariff(season)


def order_create_only(
    *, payer: Any, season: Any, channel: str = Channel.WECHAT_NATIVE
) -> PaymentOrder:
    """A fresh house bound to `payer`, its bill issued, an order for it (not yet sent)."""
    from heatdesk.payments.services.orders import order_create

    house = make_house()
    HouseBinding.objects.create(user=payer, house=house, relation="owner")
    bill = bill_issue(house=house, season=season, issued_by=None)
    return order_create(
        payer=payer, channel=channel, bills=[bill], idempotency_key=f"k-{next(_keys)}"
    )


def order_for_new_bill(
    *, payer: Any, season: Any, channel: str = Channel.WECHAT_NATIVE
) -> PaymentOrder:
    """`order_create_only`, then sent to the provider (prepay)."""
    from heatdesk.payments.services.orders import order_prepare

    order = order_create_only(payer=payer, season=season, channel=channel)
    assert order_prepare(order) is not None
    return PaymentOrder.objects.get(pk=order.pk)


def pay_at_cashier(order: PaymentOrder, outcome: str = "succeed") -> SandboxPaymentOrder:
    sim_order = SandboxPaymentOrder.objects.get(out_trade_no=order.out_trade_no)
    path = f"/sandbox/pay/{sim_order.public_id}/"
    Client().get(path)
    response = Client().post(path, {"outcome": outcome})
    assert response.status_code == 302, response.content
    return SandboxPaymentOrder.objects.get(pk=sim_order.pk)


def paid_order(*, payer: Any, season: Any, channel: str = Channel.WECHAT_NATIVE) -> PaymentOrder:
    """An order paid at the simulator and settled here by a query (as the janitor would)."""
    from heatdesk.payments.services.sync import order_sync

    order = order_for_new_bill(payer=payer, season=season, channel=channel)
    pay_at_cashier(order)
    courier_idle(order.out_trade_no)
    order = order_sync(order)
    assert order.status == PaymentOrder.Status.PAID
    return order


def bill_of(order: PaymentOrder) -> Bill:
    return Bill.objects.get(pk=order.items.get().bill_id)


def ledger_payments(order: PaymentOrder) -> list[tuple[str, int]]:
    """The payment entries the ledger holds for the order (source, amount: a payment is
    negative, it lowers what the house owes)."""
    return list(
        LedgerEntry.objects.filter(source_id__startswith=order.out_trade_no)
        .order_by("id")
        .values_list("source", "amount_fen")
    )
