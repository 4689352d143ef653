"""Reconciliation for finance: daily reports per provider with their discrepancies, resolving a
discrepancy with a note, re-running a day, and the open payment alerts. Every operation needs
`payments.reconcile`; without it (or without a staff account) the answer is `forbidden` (403).

Errors every endpoint can answer: `unauthenticated` (401), `forbidden` (403),
`validation_error` (422).
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from heatdesk.billing.api_staff import ERRORS, staff_with
from heatdesk.core.errors import NotFound, ValidationFailed
from heatdesk.payments.models import PaymentAlert, ReconciliationItem, ReconciliationReport
from heatdesk.payments.services.reconciliation import reconcile_day
from heatdesk.payments.services.reconciliation_review import (
    payment_alert_resolve,
    reconciliation_item_resolve,
)

router = Router(tags=["payments-reconciliation"])
PERMISSION = "payments.reconcile"
LIST_LIMIT = 100


class ItemOut(Schema):
    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    provider_fen: int | None
    local_fen: int | None
    detail: dict[str, Any]
    note: str
    resolved_at: dt.datetime | None


class ReportOut(Schema):
    id: int
    provider: str
    bill_date: dt.date
    status: str
    status_label: str
    totals: dict[str, Any]
    error: str
    attempts: int
    fetched_at: dt.datetime | None
    open_items: int


class ReportDetailOut(ReportOut):
    items: list[ItemOut]


class NoteIn(Schema):
    note: str = Field(..., max_length=300)


class RunIn(Schema):
    provider: str
    date: dt.date


class AlertOut(Schema):
    id: int
    kind: str
    kind_label: str
    provider: str
    out_trade_no: str
    message: str
    detail: dict[str, Any]
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    note: str


def _item_out(item: ReconciliationItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "kind": item.kind,
        "kind_label": item.get_kind_display(),
        "state": item.state,
        "state_label": item.get_state_display(),
        "out_trade_no": item.out_trade_no,
        "transaction_id": item.transaction_id,
        "out_refund_no": item.out_refund_no,
        "provider_fen": item.provider_fen,
        "local_fen": item.local_fen,
        "detail": item.detail,
        "note": item.note,
        "resolved_at": item.resolved_at,
    }


def _report_out(report: ReconciliationReport, *, items: bool = False) -> dict[str, Any]:
    rows = list(report.items.order_by("id")) if items else []
    out: dict[str, Any] = {
        "id": report.pk,
        "provider": report.provider,
        "bill_date": report.bill_date,
        "status": report.status,
        "status_label": report.get_status_display(),
        "totals": report.totals,
        "error": report.error,
        "attempts": report.attempts,
        "fetched_at": report.fetched_at,
        "open_items": getattr(report, "open_items", None)
        if not items
        else sum(1 for i in rows if i.state == ReconciliationItem.State.OPEN),
    }
    if items:
        out["items"] = [_item_out(i) for i in rows]
    return out


def _alert_out(alert: PaymentAlert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "kind_label": alert.get_kind_display(),
        "provider": alert.provider,
        "out_trade_no": alert.out_trade_no,
        "message": alert.message,
        "detail": alert.detail,
        "created_at": alert.created_at,
        "resolved_at": alert.resolved_at,
        "note": alert.note,
    }


def _report(report_id: int) -> ReconciliationReport:
    report = ReconciliationReport.objects.filter(pk=report_id).first()
    if report is None:
        raise NotFound("未找到该对账报告。", code="reconciliation_report_not_found")
    return report


@router.get(
    "/payments/reconciliation/reports",
    response={200: list[ReportOut], **ERRORS},
    summary="Reconciliation reports",
)
def reports(
    request: HttpRequest, provider: str = "", status: str = "", date: dt.date | None = None
) -> list[dict[str, Any]]:
    """Newest first (at most 100), optionally by provider, status or date, each with how many
    discrepancies are open."""
    from django.db.models import Count, Q

    staff_with(request, PERMISSION)
    found = ReconciliationReport.objects.annotate(
        open_items=Count("items", filter=Q(items__state=ReconciliationItem.State.OPEN))
    )
    if provider:
        found = found.filter(provider=provider)
    if status:
        found = found.filter(status=status)
    if date is not None:
        found = found.filter(bill_date=date)
    return [_report_out(r) for r in found.order_by("-bill_date", "provider")[:LIST_LIMIT]]


@router.get(
    "/payments/reconciliation/reports/{report_id}",
    response={200: ReportDetailOut, **ERRORS},
    summary="A reconciliation report with its items",
)
def report_detail(request: HttpRequest, report_id: int) -> dict[str, Any]:
    """Errors: `reconciliation_report_not_found` (404)."""
    staff_with(request, PERMISSION)
    return _report_out(_report(report_id), items=True)


@router.post(
    "/payments/reconciliation/items/{item_id}/resolve",
    response={200: ItemOut, **ERRORS},
    summary="Resolve a discrepancy with a note",
)
def item_resolve(request: HttpRequest, item_id: int, payload: NoteIn) -> dict[str, Any]:
    """Errors: `reconciliation_item_not_found` (404), `reconciliation_item_closed` (409),
    `validation_error` (422: no note)."""
    user = staff_with(request, PERMISSION)
    item = ReconciliationItem.objects.filter(pk=item_id).first()
    if item is None:
        raise NotFound("未找到该差异。", code="reconciliation_item_not_found")
    return _item_out(reconciliation_item_resolve(item=item, by=user, note=payload.note))


@router.post(
    "/payments/reconciliation/runs",
    response={200: ReportDetailOut, **ERRORS},
    summary="Reconcile (again) one provider's day",
)
def run(request: HttpRequest, payload: RunIn) -> dict[str, Any]:
    """Downloads the bill again and updates the day's report (wechatpay, alipay or counter).
    Errors: `reconcile_provider_invalid`, `reconcile_day_in_future` (422)."""
    user = staff_with(request, PERMISSION)
    if payload.provider not in ("wechatpay", "alipay", "counter"):
        raise ValidationFailed(
            "不支持的支付渠道。", code="reconcile_provider_invalid", fields={"provider": ["无效"]}
        )
    report = reconcile_day(provider=payload.provider, day=payload.date, by=user)
    return _report_out(report, items=True)


@router.get(
    "/payments/alerts", response={200: list[AlertOut], **ERRORS}, summary="Open payment alerts"
)
def alerts(request: HttpRequest, kind: str = "") -> list[dict[str, Any]]:
    """Unresolved alerts, newest first (at most 100)."""
    staff_with(request, PERMISSION)
    found = PaymentAlert.objects.filter(resolved_at__isnull=True)
    if kind:
        found = found.filter(kind=kind)
    return [_alert_out(a) for a in found.order_by("-created_at")[:LIST_LIMIT]]


@router.post(
    "/payments/alerts/{alert_id}/resolve",
    response={200: AlertOut, **ERRORS},
    summary="Resolve a payment alert with a note",
)
def alert_resolve(request: HttpRequest, alert_id: int, payload: NoteIn) -> dict[str, Any]:
    """Errors: `payment_alert_not_found` (404), `payment_alert_closed` (409),
    `validation_error` (422: no note)."""
    user = staff_with(request, PERMISSION)
    alert = PaymentAlert.objects.filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("未找到该告警。", code="payment_alert_not_found")
    return _alert_out(payment_alert_resolve(alert=alert, by=user, note=payload.note))
