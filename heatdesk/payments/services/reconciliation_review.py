"""Finance's side of reconciliation: close a discrepancy with a note, close an alert with a note.
Both are compare-and-set on the row's state and written to the audit log."""

from typing import Any

from django.db import transaction

from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.payments.models import PaymentAlert, ReconciliationItem
from heatdesk.payments.services.reconciliation_status import report_refresh_status

State = ReconciliationItem.State
NOTE_MAX = 300


def _note(note: str) -> str:
    text = (note or "").strip()
    if not text:
        raise ValidationFailed("请填写处理说明。", fields={"note": ["必填。"]})
    if len(text) > NOTE_MAX:
        raise ValidationFailed("处理说明过长。", fields={"note": [f"最多 {NOTE_MAX} 个字符。"]})
    return text


def reconciliation_item_resolve(
    *, item: ReconciliationItem, by: Any, note: str
) -> ReconciliationItem:
    """Close an open (or carried) discrepancy with what was done about it; the report becomes
    RESOLVED when nothing is left open."""
    text = _note(note)
    with transaction.atomic():
        now = clock.now()
        moved = ReconciliationItem.objects.filter(
            pk=item.pk, state__in=(State.OPEN, State.CARRIED)
        ).update(state=State.RESOLVED, note=text, resolved_by=by, resolved_at=now)
        if not moved:
            raise Conflict("该差异已处理。", code="reconciliation_item_closed")
        audit_record(
            actor=by,
            action="payments.reconciliation_item_resolve",
            obj=item,
            before={"state": item.state},
            after={"state": State.RESOLVED, "note": text},
            reason=text,
        )
    report_refresh_status(item.report_id)
    return ReconciliationItem.objects.get(pk=item.pk)


def payment_alert_resolve(*, alert: PaymentAlert, by: Any, note: str) -> PaymentAlert:
    """Close an alert with a note (who and when are kept)."""
    text = _note(note)
    with transaction.atomic():
        moved = PaymentAlert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=clock.now(), resolved_by=by, note=text
        )
        if not moved:
            raise Conflict("该告警已处理。", code="payment_alert_closed")
        audit_record(
            actor=by,
            action="payments.alert_resolve",
            obj=alert,
            before={"resolved": False},
            after={"resolved": True, "note": text},
            reason=text,
        )
    return PaymentAlert.objects.get(pk=alert.pk)
