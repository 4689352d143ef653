"""A reconciliation report's status follows from its items: any OPEN item makes it DISCREPANT;
none, and it is BALANCED (RESOLVED when a person closed at least one item)."""

from django.db import transaction

from heatdesk.payments.models import ReconciliationItem, ReconciliationReport

RStatus = ReconciliationReport.Status
State = ReconciliationItem.State
# Reports in these states have a usable bill; PENDING/FAILED ones keep their status.
SETTLED_STATUSES = (RStatus.DISCREPANT, RStatus.BALANCED, RStatus.RESOLVED)


def report_refresh_status(report_id: int) -> str:
    """Recompute the report's status from its items under the report's row lock."""
    with transaction.atomic():
        report = ReconciliationReport.objects.select_for_update().get(pk=report_id)
        if report.status == RStatus.FAILED:
            return report.status
        items = ReconciliationItem.objects.filter(report_id=report_id)
        if items.filter(state=State.OPEN).exists():
            status = RStatus.DISCREPANT
        elif items.filter(state=State.RESOLVED, resolved_by__isnull=False).exists():
            status = RStatus.RESOLVED
        else:
            status = RStatus.BALANCED
        if report.status == RStatus.PENDING and report.fetched_at is None:
            return report.status  # never had a bill
        if status != report.status:
            ReconciliationReport.objects.filter(pk=report_id, status=report.status).update(
                status=status
            )
        return status
