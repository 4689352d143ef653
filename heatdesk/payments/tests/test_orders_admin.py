"""The payments back office: orders (with items), notifies and alerts are read-only; finance
resolves an alert with a note, which is kept with who and when."""

import pytest
from django.test import Client

from heatdesk.payments.models import PaymentAlert
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.orders import order_create

pytestmark = pytest.mark.django_db


def _login(user):
    client = Client()
    client.force_login(user)
    return client


def test_finance_reads_orders_with_their_items_and_cannot_edit_them(finance, bills, resident):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="adm"
    )
    client = _login(finance)
    listing = client.get("/admin/payments/paymentorder/")
    assert listing.status_code == 200
    assert order.out_trade_no in listing.content.decode()
    page = client.get(f"/admin/payments/paymentorder/{order.pk}/change/")
    assert page.status_code == 200
    assert bills[0].house.account_no in page.content.decode()
    assert client.get("/admin/payments/paymentorder/add/").status_code == 403
    assert client.get("/admin/payments/providernotify/").status_code == 200


def test_finance_resolves_an_alert_with_a_note(finance):
    alert = alert_raise(kind="notify_rejected", message="签名错误", provider="wechatpay")
    client = _login(finance)
    url = "/admin/payments/paymentalert/"
    ask = client.post(url, {"action": "resolve_selected", "_selected_action": [alert.pk]})
    assert ask.status_code == 200
    assert "处理说明" in ask.content.decode()
    assert PaymentAlert.objects.get(pk=alert.pk).resolved_at is None
    done = client.post(
        url,
        {
            "action": "resolve_selected",
            "_selected_action": [alert.pk],
            "confirm": "yes",
            "note": "伪造回调，已报安全组",
        },
    )
    assert done.status_code == 302
    alert.refresh_from_db()
    assert (alert.note, alert.resolved_by_id) == ("伪造回调，已报安全组", finance.pk)
    assert alert.resolved_at is not None


def test_an_agent_cannot_resolve_alerts(agent):
    alert = alert_raise(kind="late_payment", message="关单后到账")
    client = _login(agent)
    client.post(
        "/admin/payments/paymentalert/",
        {
            "action": "resolve_selected",
            "_selected_action": [alert.pk],
            "confirm": "yes",
            "note": "x",
        },
    )
    assert PaymentAlert.objects.get(pk=alert.pk).resolved_at is None
