"""Every online channel end to end against the simulators: create → pay parameters → the payer
pays at the simulated cashier → the simulator's signed notify reaches our endpoint → PAID, the
ledger has one payment and the bill is paid."""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client

from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.payments.models import PaymentOrder, ProviderNotify
from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.config import wechatpay_config
from heatdesk.payments.providers.keys import rsa_sha256_verify
from heatdesk.payments.services.orders import order_create, order_prepare
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    openid_for,
    payments_of,
    sim_order,
    wait_delivered,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _create(resident, bill, channel, key, settings):
    openid = openid_for(settings) if channel == "wechat_jsapi" else ""
    return order_create(
        payer=resident, channel=channel, bills=[bill], idempotency_key=key, openid=openid
    )


def _assert_paid(order, bill, house):
    order.refresh_from_db()
    assert order.status == "paid"
    assert (order.paid_fen, order.excess_fen, bool(order.transaction_id)) == (BILL_FEN, 0, True)
    assert bill_status(bill) == ("paid", BILL_FEN)
    assert payments_of(house) == [(-BILL_FEN, order.out_trade_no)]
    assert assert_account_consistent(house) == 0
    assert ProviderNotify.objects.filter(out_trade_no=order.out_trade_no).count() == 1


def test_wechat_jsapi_pays_a_bill_end_to_end(sim, settings, bills, resident, house_a):
    bill, _ = bills
    order = _create(resident, bill, "wechat_jsapi", "k-jsapi", settings)
    assert (order.status, order.amount_fen, len(order.out_trade_no)) == ("created", BILL_FEN, 26)
    pay = order_prepare(order)
    params = pay["request_payment"]
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["signType"] == "RSA"
    config = wechatpay_config()
    rsa_sha256_verify(  # raises if the signature is wrong
        config.private_key.public_key(),
        proto.pay_sign_message(
            appid=params["appId"],
            timestamp=params["timeStamp"],
            nonce=params["nonceStr"],
            package=params["package"],
        ),
        params["paySign"],
    )
    order.refresh_from_db()
    assert order.status == "pending"
    assert json.loads(order.provider_request) == sim_order(order).request_params
    cashier_pay(order)
    wait_delivered(order)
    _assert_paid(order, bill, house_a)


def test_wechat_native_pays_with_a_code_url(sim, settings, bills, resident, house_a):
    bill, _ = bills
    order = _create(resident, bill, "wechat_native", "k-native", settings)
    pay = order_prepare(order)
    assert pay["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    cashier_pay(order)
    wait_delivered(order)
    _assert_paid(order, bill, house_a)


def test_alipay_precreate_pays_with_a_qr_code(sim, settings, bills, resident, house_a):
    bill, _ = bills
    order = _create(resident, bill, "alipay_precreate", "k-pre", settings)
    pay = order_prepare(order)
    assert "/sandbox/pay/" in pay["qr_code"]
    cashier_pay(order)
    wait_delivered(order)
    _assert_paid(order, bill, house_a)


def test_alipay_wap_pays_through_the_signed_redirect(sim, settings, bills, resident, house_a):
    bill, _ = bills
    order = _create(resident, bill, "alipay_wap", "k-wap", settings)
    pay = order_prepare(order)
    url = pay["pay_url"]
    query = dict(parse_qsl(urlsplit(url).query))
    assert (query["method"], query["sign_type"]) == ("alipay.trade.wap.pay", "RSA2")
    assert '"total_amount":"2237.50"' in query["biz_content"]
    # the payer's browser follows the URL to the gateway, which shows the cashier
    answer = Client().get(urlsplit(url).path, query)
    assert answer.status_code == 302
    cashier_pay(order)
    wait_delivered(order)
    _assert_paid(order, bill, house_a)
    assert PaymentOrder.objects.get(pk=order.pk).channel == "alipay_wap"
