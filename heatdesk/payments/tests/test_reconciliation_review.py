"""Finance reviews reconciliation through the staff API: reports, items, notes, alerts."""

import datetime as dt

import pytest

from heatdesk.accounts.services import token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.payments.models import PaymentAlert, ReconciliationItem, ReconciliationReport
from heatdesk.testing import ApiClient

DAY = dt.date(2026, 11, 23)


def api_for(user):
    return ApiClient(token_issue(user=user))


@pytest.fixture
def report(db):
    report = ReconciliationReport.objects.create(
        provider="wechatpay",
        bill_date=DAY,
        status=ReconciliationReport.Status.DISCREPANT,
        totals={"provider": {"payments": 1, "paid_fen": 999}},
    )
    ReconciliationItem.objects.create(
        report=report,
        kind=ReconciliationItem.Kind.CHANNEL_ONLY,
        out_trade_no="HD20261123GHOST",
        provider_fen=999,
    )
    return report


def test_finance_lists_reads_and_resolves_a_discrepancy_with_an_audit_entry(report, finance):
    api = api_for(finance)
    listed = api.get("payments/reconciliation/reports?provider=wechatpay")
    assert listed.status_code == 200, listed.content
    [row] = listed.json()
    assert (row["id"], row["status"], row["open_items"]) == (report.pk, "discrepant", 1)
    detail = api.get(f"payments/reconciliation/reports/{report.pk}").json()
    [item] = detail["items"]
    assert (item["kind"], item["state"], item["provider_fen"]) == ("channel_only", "open", 999)
    # a resolve without a note is refused and changes nothing
    refused = api.post(f"payments/reconciliation/items/{item['id']}/resolve", {"note": "  "})
    assert refused.status_code == 422
    assert ReconciliationItem.objects.get(pk=item["id"]).state == "open"
    # with a note it closes the item, the report, and is audited
    done = api.post(
        f"payments/reconciliation/items/{item['id']}/resolve", {"note": "测试商户号误入，已核实"}
    )
    assert done.status_code == 200, done.content
    assert (done.json()["state"], done.json()["note"]) == ("resolved", "测试商户号误入，已核实")
    stored = ReconciliationItem.objects.get(pk=item["id"])
    assert (stored.state, stored.resolved_by_id) == ("resolved", finance.pk)
    assert ReconciliationReport.objects.get(pk=report.pk).status == "resolved"
    entry = AuditEntry.objects.get(action="payments.reconciliation_item_resolve")
    assert (entry.actor_id, entry.reason) == (finance.pk, "测试商户号误入，已核实")
    # a second resolve is a conflict
    again = api.post(f"payments/reconciliation/items/{item['id']}/resolve", {"note": "再次"})
    assert (again.status_code, again.json()["code"]) == (409, "reconciliation_item_closed")


def test_staff_without_the_reconcile_permission_are_refused(report, collector, admin_user):
    for user in (collector, admin_user):
        api = api_for(user)
        assert api.get("payments/reconciliation/reports").status_code == 403
        item = report.items.get()
        answer = api.post(f"payments/reconciliation/items/{item.pk}/resolve", {"note": "x"})
        assert answer.status_code == 403
    assert report.items.get().state == "open"
    assert not AuditEntry.objects.filter(action__startswith="payments.reconciliation").exists()


def test_finance_resolves_an_open_alert_with_a_note(finance, db):
    alert = PaymentAlert.objects.create(
        kind="janitor_gave_up", message="查单未果", out_trade_no="X1"
    )
    PaymentAlert.objects.create(
        kind="reconciliation", message="旧告警", resolved_at=dt.datetime.now(dt.UTC)
    )
    api = api_for(finance)
    [open_one] = api.get("payments/alerts").json()
    assert (open_one["id"], open_one["kind"]) == (alert.pk, "janitor_gave_up")
    done = api.post(f"payments/alerts/{alert.pk}/resolve", {"note": "已电话联系用户，确认未支付"})
    assert done.status_code == 200, done.content
    stored = PaymentAlert.objects.get(pk=alert.pk)
    assert (stored.resolved_by_id, stored.note) == (finance.pk, "已电话联系用户，确认未支付")
    assert api.get("payments/alerts").json() == []
    assert api.post(f"payments/alerts/{alert.pk}/resolve", {"note": "x"}).status_code == 409
    assert AuditEntry.objects.filter(action="payments.alert_resolve").count() == 1


def test_a_rerun_of_a_counter_day_without_shifts_balances_and_is_audited(finance, db):
    api = api_for(finance)
    answer = api.post("payments/reconciliation/runs", {"provider": "counter", "date": "2026-11-23"})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["status"], answer.json()["items"]) == ("balanced", [])
    report = ReconciliationReport.objects.get(provider="counter", bill_date=DAY)
    assert report.totals["local"]["payments"] == 0
    assert AuditEntry.objects.filter(action="payments.reconciliation_run").count() == 1
    bad = api.post("payments/reconciliation/runs", {"provider": "paypal", "date": "2026-11-23"})
    assert (bad.status_code, bad.json()["code"]) == (422, "reconcile_provider_invalid")
    future = api.post("payments/reconciliation/runs", {"provider": "counter", "date": "2099-01-01"})
    assert (future.status_code, future.json()["code"]) == (422, "reconcile_day_in_future")
