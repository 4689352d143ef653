"""An online payment gets a receipt too: its number is our order number (the one the payer's
WeChat/Alipay bill shows), the PDF names the provider's transaction, and the QR check works."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import re

import pytest
from django.conf import settings
from django.test import Client

from heatdesk.payments.models import PaymentOrder, PaymentOrderItem
from heatdesk.payments.receipts import receipt_for, receipt_pdf, receipt_token
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    on_nov_20,
)
from heatdesk.payments.tests.test_receipt_pdf import page_text

pytestmark = pytest.mark.django_db

TXN = "4200002026112012345678901234"


def _pending_wechat_order(house, bill) -> PaymentOrder:
    order = PaymentOrder.objects.create(
        out_trade_no="HD20261120ABCDEFGHJKMNPQRS",
        provider="wechatpay",
        channel="wechat_native",
        status=PaymentOrder.Status.PENDING,
        amount_fen=BILL,
        description="采暖费",
    )
    PaymentOrderItem.objects.create(order=order, house=house, bill=bill, amount_fen=BILL)
    return order


def test_an_online_payment_has_a_receipt_numbered_by_its_order(house_a, bill):
    order = _pending_wechat_order(house_a, bill)
    assert order.receipt_no == ""
    # when the provider's payment is settled
    order_settle(order=order, transaction_id=TXN, paid_fen=BILL, paid_at=order.created_at)
    # then it carries a receipt number: our order number
    row = PaymentOrder.objects.get(pk=order.pk)
    assert (row.status, row.receipt_no) == ("paid", "HD20261120ABCDEFGHJKMNPQRS")
    data = receipt_for(order=row)
    assert (data.channel, data.reference, data.collector) == (
        "微信支付（扫码）",
        TXN,
        "在线缴费 Online",
    )
    assert [line.amount_fen for line in data.lines] == [BILL]
    assert data.total_capitals == "贰仟贰佰叁拾柒元伍角整"
    # and the PDF's QR code leads to a check that says it is valid
    text = page_text(receipt_pdf(order=row))
    assert f"({row.receipt_no})" in text
    [url] = re.findall(r"\((https?://[^)]+)\)", text)
    assert url.endswith(f"/{row.receipt_no}/{receipt_token(row.receipt_no)}")
    body = Client().get(url[len(settings.PUBLIC_BASE_URL) :], {"format": "json"}).json()
    assert (body["genuine"], body["status"], body["amount_fen"]) == (True, "valid", BILL)


def test_an_unpaid_order_has_no_receipt(house_a, bill):
    order = _pending_wechat_order(house_a, bill)
    with pytest.raises(ValueError, match="paid"):
        receipt_for(order=order)
    # and its would-be number is not a valid receipt check either
    path = f"/receipts/verify/{order.out_trade_no}/{receipt_token(order.out_trade_no)}/"
    assert Client().get(path, {"format": "json"}).status_code == 404
