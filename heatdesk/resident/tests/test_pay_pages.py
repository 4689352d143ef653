"""Pay pages against the payment simulators on the live server: choose WeChat Pay or Alipay,
one order however often the form is sent, the simulator's cashier, the result page's status
following the order to paid, payment records; nobody else's bill or order by URL."""

import pytest
from django.test import Client

from heatdesk.billing.models import Bill
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.tests.orders_support import BILL_FEN, cashier_pay, wait_delivered

# The fixtures `sim` (simulators on the live server) and `bills` come from the payments tests,
# through this folder's conftest.

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def me(resident) -> Client:
    client = Client()
    client.force_login(resident)
    return client


def _pay_url(bill: Bill) -> str:
    return f"/m/houses/{bill.house.public_id}/bills/{bill.public_id}/pay/"


def _key(html: str) -> str:
    return html.split('name="key" value="')[1].split('"')[0]


def test_the_bill_page_leads_to_the_pay_page_with_the_amount_due(me, bills):
    bill, _ = bills
    detail = me.get(f"/m/houses/{bill.house.public_id}/bills/{bill.public_id}/").content.decode()
    assert f'href="{_pay_url(bill)}"' in detail
    page = me.get(_pay_url(bill)).content.decode()
    assert 'data-testid="pay-amount">¥2,237.50<' in page
    assert "微信支付" in page
    assert "支付宝" in page
    assert len(_key(page)) >= 16


def test_wechat_pay_opens_one_order_then_the_cashier_then_shows_it_paid(sim, me, resident, bills):
    bill, _ = bills
    key = _key(me.get(_pay_url(bill)).content.decode())
    form = {"channel": "wechat_native", "key": key}
    first = me.post(_pay_url(bill), form)
    second = me.post(_pay_url(bill), form)  # a double tap, or the page sent again

    order = PaymentOrder.objects.get()
    assert first["Location"] == second["Location"] == f"/m/pay/orders/{order.public_id}/"
    assert (order.payer_id, order.channel, order.amount_fen) == (
        resident.pk,
        "wechat_native",
        BILL_FEN,
    )
    assert order.status == "pending"
    result = me.get(first["Location"]).content.decode()
    assert 'data-phase="open"' in result
    assert f'data-poll="/m/pay/orders/{order.public_id}/status/"' in result
    cashier = result.split('data-testid="go-pay"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert cashier.startswith("/sandbox/pay/sp_")
    assert me.get(f"/m/pay/orders/{order.public_id}/status/").json()["final"] is False

    # when: the payer pays at the simulated cashier and the notify arrives
    cashier_pay(order)
    wait_delivered(order)

    # then
    state = me.get(f"/m/pay/orders/{order.public_id}/status/").json()
    assert (state["status"], state["final"], state["paid_fen"]) == ("paid", True, BILL_FEN)
    assert Bill.objects.get(pk=bill.pk).status == "paid"
    assert 'data-phase="paid"' in me.get(first["Location"]).content.decode()
    records = me.get("/m/pay/records/").content.decode()
    assert f'href="/m/pay/orders/{order.public_id}/"' in records
    assert "已支付" in records
    assert "¥2,237.50" in records


def test_alipay_goes_to_the_alipay_cashier_and_comes_back_to_the_result(sim, me, bills):
    bill, _ = bills
    key = _key(me.get(_pay_url(bill)).content.decode())
    response = me.post(_pay_url(bill), {"channel": "alipay_wap", "key": key})
    order = PaymentOrder.objects.get()
    assert order.channel == "alipay_wap"
    result = me.get(response["Location"]).content.decode()
    prepare = f"/m/pay/orders/{order.public_id}/prepare/"
    assert f'action="{prepare}"' in result
    # the Alipay cashier URL is signed afresh when the payer goes to pay
    gone = me.post(prepare)
    assert gone["Location"].startswith(f"{sim.url}/sandbox/alipay/gateway.do?")
    assert "alipay.trade.wap.pay" in gone["Location"]
    back = me.get(f"/m/pay/return?out_trade_no={order.out_trade_no}&trade_no=x")
    assert back["Location"] == f"/m/pay/orders/{order.public_id}/"


def test_no_channel_is_a_field_error_and_opens_no_order(me, bills):
    bill, _ = bills
    response = me.post(_pay_url(bill), {"key": "k-1"})
    assert response.status_code == 200
    assert "请选择支付方式。" in response.content.decode()
    assert not PaymentOrder.objects.exists()


def test_another_residents_bill_and_order_are_not_found(sim, me, neighbour, bills):
    mine, theirs = bills
    assert me.get(_pay_url(theirs)).status_code == 404
    assert me.post(_pay_url(theirs), {"channel": "wechat_native", "key": "k-x"}).status_code == 404
    assert not PaymentOrder.objects.exists()
    key = _key(me.get(_pay_url(mine)).content.decode())
    me.post(_pay_url(mine), {"channel": "wechat_native", "key": key})
    order = PaymentOrder.objects.get()
    other = Client()
    other.force_login(neighbour)
    assert other.get(f"/m/pay/orders/{order.public_id}/").status_code == 404
    assert other.get(f"/m/pay/orders/{order.public_id}/status/").status_code == 404
    assert other.post(f"/m/pay/orders/{order.public_id}/prepare/").status_code == 404
    assert order.public_id not in other.get("/m/pay/records/").content.decode()


def test_pay_pages_read_in_english(sim, resident, bills, settings):
    from heatdesk.resident.tests.test_language import _leftover_chinese

    bill, _ = bills
    client = Client()
    client.force_login(resident)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    pay = client.get(_pay_url(bill))
    empty = client.post(_pay_url(bill), {"key": "k-en"})
    client.post(_pay_url(bill), {"channel": "wechat_native", "key": _key(pay.content.decode())})
    order = PaymentOrder.objects.get()
    pages = {
        "pay": pay,
        "pay-empty": empty,
        "result": client.get(f"/m/pay/orders/{order.public_id}/"),
        "records": client.get("/m/pay/records/"),
    }
    for name, response in pages.items():
        html = response.content.decode()
        assert '<html lang="en">' in html, name
        assert _leftover_chinese(html) == [], name
    assert "Choose how to pay." in empty.content.decode()
    assert "Pay with WeChat Pay" in pages["result"].content.decode()


def test_a_counter_payment_is_listed_with_its_receipt(me, resident, neighbour, collector, bills):
    from heatdesk.payments.services.counter import counter_payment_record
    from heatdesk.payments.services.counter_shifts import shift_open

    bill, _ = bills
    shift_open(collector=collector, opening_float_fen=0)
    order = counter_payment_record(
        collector=collector, house=bill.house, bills=[bill], channel="cash", idempotency_key="c-1"
    )
    records = me.get("/m/pay/records/").content.decode()
    assert order.receipt_no in records
    assert "现金" in records
    page = me.get(f"/m/pay/orders/{order.public_id}/").content.decode()
    assert f'href="/m/pay/orders/{order.public_id}/receipt/"' in page
    receipt = me.get(f"/m/pay/orders/{order.public_id}/receipt/")
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")
    other = Client()
    other.force_login(neighbour)
    assert other.get(f"/m/pay/orders/{order.public_id}/receipt/").status_code == 404


def test_an_online_payment_has_a_receipt_once_paid_and_not_before(sim, me, neighbour, bills):
    bill, _ = bills
    key = _key(me.get(_pay_url(bill)).content.decode())
    me.post(_pay_url(bill), {"channel": "wechat_native", "key": key})
    order = PaymentOrder.objects.get()
    # while unpaid: no receipt
    assert me.get(f"/m/pay/orders/{order.public_id}/receipt/").status_code == 404
    assert (
        'data-testid="receipt-link"'
        not in me.get(f"/m/pay/orders/{order.public_id}/").content.decode()
    )
    # when paid at the cashier
    cashier_pay(order)
    wait_delivered(order)
    order.refresh_from_db()
    # then the receipt is numbered by the order and downloadable by the payer only
    assert (order.status, order.receipt_no) == ("paid", order.out_trade_no)
    assert (
        'data-testid="receipt-link"' in me.get(f"/m/pay/orders/{order.public_id}/").content.decode()
    )
    assert order.receipt_no in me.get("/m/pay/records/").content.decode()
    receipt = me.get(f"/m/pay/orders/{order.public_id}/receipt/")
    assert receipt["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")
    other = Client()
    other.force_login(neighbour)
    assert other.get(f"/m/pay/orders/{order.public_id}/receipt/").status_code == 404
