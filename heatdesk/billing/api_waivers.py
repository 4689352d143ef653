"""滞纳金减免 for staff: request a waiver of a bill's late fee, list requests, approve or reject
them. The person who asked never decides. Mounted on the billing router.

Errors every endpoint can answer: `unauthenticated` (401), `forbidden` (403),
`validation_error` (422).
"""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from heatdesk.billing import presenters
from heatdesk.billing.api_staff import ERRORS, staff_with
from heatdesk.billing.models import Bill, LateFeeWaiver
from heatdesk.billing.schemas import LateFeeWaiverIn, LateFeeWaiverOut, LateFeeWaiverRejectIn
from heatdesk.billing.services import late_fee_waivers
from heatdesk.core.errors import NotFound, ValidationFailed

router = Router(tags=["billing-staff"])


def _waiver(waiver_id: str) -> LateFeeWaiver:
    waiver = (
        LateFeeWaiver.objects.select_related("bill__house", "bill__season", "line")
        .filter(public_id=waiver_id)
        .first()
    )
    if waiver is None:
        raise NotFound("未找到该减免申请。", code="waiver_not_found")
    return waiver


def _out(waiver: LateFeeWaiver) -> dict[str, Any]:
    return presenters.late_fee_waiver_out(_waiver(waiver.public_id))


@router.post(
    "/billing/bills/{bill_id}/late-fee-waivers",
    response={201: LateFeeWaiverOut, **ERRORS},
    summary="Request a late-fee waiver",
)
def waiver_request(request: HttpRequest, bill_id: str, payload: LateFeeWaiverIn) -> Status[Any]:
    """Ask to waive all or part of a bill's late fee (the fixed one, or as of today while it is
    not fixed, less earlier waivers), with a reason; someone else approves it. Audited.
    Permission: `billing.request_late_fee_waiver`. Errors: `bill_not_found` (404);
    `bill_not_waivable`, `late_fee_none`, `late_fee_waived_already`,
    `waiver_exceeds_late_fee`, `waiver_pending` (409); `validation_error` (422)."""
    user = staff_with(request, "billing.request_late_fee_waiver")
    bill = Bill.objects.filter(public_id=bill_id).first()
    if bill is None:
        raise NotFound("未找到该账单。", code="bill_not_found")
    waiver = late_fee_waivers.late_fee_waiver_request(
        bill=bill, amount_fen=payload.amount_fen, reason=payload.reason, by=user
    )
    return Status(201, _out(waiver))


@router.get(
    "/billing/late-fee-waivers",
    response={200: list[LateFeeWaiverOut], **ERRORS},
    summary="Late-fee waiver requests",
)
def waiver_list(
    request: HttpRequest, status: str = LateFeeWaiver.Status.PENDING
) -> list[dict[str, Any]]:
    """Requests with a status (default: pending), oldest first — the order to decide them in;
    at most 500. Permission: `billing.view_latefeewaiver`."""
    staff_with(request, "billing.view_latefeewaiver")
    if status not in LateFeeWaiver.Status.values:
        raise ValidationFailed(
            "状态无效。", fields={"status": ["可选：pending、approved、rejected。"]}
        )
    found = (
        LateFeeWaiver.objects.filter(status=status)
        .select_related("bill__house", "bill__season", "line")
        .order_by("requested_at", "id")[:500]
    )
    return [presenters.late_fee_waiver_out(w) for w in found]


@router.post(
    "/billing/late-fee-waivers/{waiver_id}/approve",
    response={200: LateFeeWaiverOut, **ERRORS},
    summary="Approve a late-fee waiver",
)
def waiver_approve(request: HttpRequest, waiver_id: str) -> dict[str, Any]:
    """The bill gets a 滞纳金减免 credit line and the account its ledger entry, in one
    transaction; audited. Permission: `billing.approve_late_fee_waiver`. Errors:
    `waiver_not_found` (404); `waiver_same_person`, `waiver_not_pending`, `bill_not_waivable`,
    `late_fee_none`, `late_fee_waived_already`, `waiver_exceeds_late_fee`, `bill_conflict`
    (409)."""
    user = staff_with(request, "billing.approve_late_fee_waiver")
    waiver = late_fee_waivers.late_fee_waiver_approve(waiver=_waiver(waiver_id), by=user)
    return _out(waiver)


@router.post(
    "/billing/late-fee-waivers/{waiver_id}/reject",
    response={200: LateFeeWaiverOut, **ERRORS},
    summary="Reject a late-fee waiver",
)
def waiver_reject(
    request: HttpRequest, waiver_id: str, payload: LateFeeWaiverRejectIn
) -> dict[str, Any]:
    """With a note; nothing else changes. Audited. Permission:
    `billing.approve_late_fee_waiver`. Errors: `waiver_not_found` (404); `waiver_same_person`,
    `waiver_not_pending` (409); `validation_error` (422)."""
    user = staff_with(request, "billing.approve_late_fee_waiver")
    waiver = late_fee_waivers.late_fee_waiver_reject(
        waiver=_waiver(waiver_id), by=user, note=payload.note
    )
    return _out(waiver)
