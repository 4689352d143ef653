"""The reconciliation back office: reports with their items and the items themselves are
read-only; finance resolves an item with a note through the review service (audited)."""

import datetime as dt

import pytest
from django.test import Client

from heatdesk.audit.models import AuditEntry
from heatdesk.payments.models import ReconciliationItem, ReconciliationReport

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 23)
ITEMS = "/admin/payments/reconciliationitem/"


def _login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def item(db):
    report = ReconciliationReport.objects.create(
        provider="wechatpay",
        bill_date=DAY,
        status=ReconciliationReport.Status.DISCREPANT,
        fetched_at=dt.datetime(2026, 11, 24, 3, tzinfo=dt.UTC),
    )
    return ReconciliationItem.objects.create(
        report=report,
        kind=ReconciliationItem.Kind.CHANNEL_ONLY,
        out_trade_no="HD20261123GHOST",
        provider_fen=12345,
    )


def _resolve(client, item, note):
    return client.post(
        ITEMS,
        {
            "action": "resolve_selected",
            "_selected_action": [item.pk],
            "confirm": "yes",
            "note": note,
        },
    )


def test_finance_reads_a_report_with_its_items_and_cannot_edit_either(finance, item):
    client = _login(finance)
    listing = client.get("/admin/payments/reconciliationreport/")
    assert listing.status_code == 200
    page = client.get(f"/admin/payments/reconciliationreport/{item.report_id}/change/")
    assert page.status_code == 200
    assert "HD20261123GHOST" in page.content.decode()
    assert client.get("/admin/payments/reconciliationreport/add/").status_code == 403
    assert client.get(f"{ITEMS}add/").status_code == 403
    filtered = client.get(f"{ITEMS}?kind=channel_only&state=open&report__provider=wechatpay")
    assert filtered.status_code == 200
    assert "HD20261123GHOST" in filtered.content.decode()
    assert "123.45" in filtered.content.decode()
    other = client.get(f"{ITEMS}?kind=local_only")
    assert "HD20261123GHOST" not in other.content.decode()
    # a POST to the change page does not edit the item
    client.post(f"{ITEMS}{item.pk}/change/", {"note": "x", "state": "resolved"})
    assert ReconciliationItem.objects.get(pk=item.pk).state == "open"


def test_finance_resolves_an_item_with_a_note_and_the_report_follows(finance, item):
    client = _login(finance)
    ask = client.post(ITEMS, {"action": "resolve_selected", "_selected_action": [item.pk]})
    assert ask.status_code == 200
    assert "处理说明" in ask.content.decode()
    assert ReconciliationItem.objects.get(pk=item.pk).state == "open"
    # an empty note is refused by the service and changes nothing
    blank = _resolve(client, item, "  ")
    assert blank.status_code == 302
    assert ReconciliationItem.objects.get(pk=item.pk).state == "open"
    assert not AuditEntry.objects.filter(action="payments.reconciliation_item_resolve").exists()

    done = _resolve(client, item, "测试商户号误入，已核实")
    assert done.status_code == 302
    stored = ReconciliationItem.objects.get(pk=item.pk)
    assert (stored.state, stored.note, stored.resolved_by_id) == (
        "resolved",
        "测试商户号误入，已核实",
        finance.pk,
    )
    assert ReconciliationReport.objects.get(pk=item.report_id).status == "resolved"
    entry = AuditEntry.objects.get(action="payments.reconciliation_item_resolve")
    assert (entry.actor_id, entry.reason) == (finance.pk, "测试商户号误入，已核实")
    # a second resolve is refused (already closed): note and audit unchanged
    _resolve(client, item, "再次处理")
    assert ReconciliationItem.objects.get(pk=item.pk).note == "测试商户号误入，已核实"
    assert AuditEntry.objects.filter(action="payments.reconciliation_item_resolve").count() == 1


def test_staff_without_the_reconcile_permission_see_nothing_and_resolve_nothing(agent, item):
    client = _login(agent)
    assert client.get(ITEMS).status_code == 403
    assert client.get("/admin/payments/reconciliationreport/").status_code == 403
    _resolve(client, item, "x")
    assert ReconciliationItem.objects.get(pk=item.pk).state == "open"
    assert not AuditEntry.objects.filter(action="payments.reconciliation_item_resolve").exists()
