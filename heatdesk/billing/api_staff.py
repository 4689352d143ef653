"""Billing for staff: seasons, tariffs, billing runs, adjustments, 报停/复供 decisions, meter
readings and settlement. Each operation needs the Django permission named in its description;
without it (or without a staff account) the answer is `forbidden` (403).

Errors every endpoint can answer: `unauthenticated` (401), `forbidden` (403),
`validation_error` (422).
"""

from typing import Any

from django.http import HttpRequest
from ninja import File, Router, Status
from ninja.files import UploadedFile

from heatdesk.accounts.auth import request_user
from heatdesk.accounts.models import User
from heatdesk.billing import presenters, services
from heatdesk.billing.models import Bill, HeatingChange, HeatingSeason, Tariff
from heatdesk.billing.schemas import (
    AdjustmentIn,
    BillLineOut,
    BillOut,
    DecisionIn,
    HeatCutOffClearIn,
    HeatCutOffIn,
    HeatingChangeOut,
    MeterImportOut,
    RejectIn,
    RunCancelIn,
    RunOut,
    RunStartIn,
    SeasonIn,
    SeasonOut,
    SettlementOut,
    TariffIn,
    TariffOut,
    TariffVersionIn,
)
from heatdesk.billing.selectors.runs import billing_run_get, billing_runs_for_season
from heatdesk.billing.services import heating_changes, meters, runs
from heatdesk.core import clock
from heatdesk.core.api import ErrorOut
from heatdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from heatdesk.estates import tabular

router = Router(tags=["billing-staff"])

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


def staff_with(request: HttpRequest, *perms: str) -> User:
    """The calling staff member, if they hold every permission in `perms`."""
    user = request_user(request)
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("需要工作人员账号。", code="forbidden")
    if not user.has_perms(perms):
        raise PermissionDenied("没有执行此操作的权限。", code="forbidden")
    return user


def _season(code: str) -> HeatingSeason:
    season = HeatingSeason.objects.filter(code=code).first()
    if season is None:
        raise NotFound("未找到该采暖季。", code="season_not_found")
    return season


# --- Seasons and tariffs ------------------------------------------------------------------------


@router.get("/billing/seasons", response={200: list[SeasonOut], **ERRORS}, summary="Seasons")
def seasons(request: HttpRequest) -> list[dict[str, Any]]:
    """Every season, newest first. Permission: `billing.view_heatingseason`."""
    staff_with(request, "billing.view_heatingseason")
    return [presenters.season_out(s) for s in HeatingSeason.objects.order_by("-heating_start")]


@router.post("/billing/seasons", response={201: SeasonOut, **ERRORS}, summary="Create a season")
def season_create(request: HttpRequest, payload: SeasonIn) -> Status[Any]:
    """A new season in draft. Permission: `billing.add_heatingseason`. Errors:
    `validation_error` (422: dates out of order, code taken, rules incomplete)."""
    user = staff_with(request, "billing.add_heatingseason")
    season = services.season_create(by=user, **payload.dict())
    return Status(201, presenters.season_out(season))


@router.post(
    "/billing/seasons/{code}/open", response={200: SeasonOut, **ERRORS}, summary="Open a season"
)
def season_open(request: HttpRequest, code: str) -> dict[str, Any]:
    """Permission: `billing.open_close_season`. Errors: `season_not_found` (404),
    `season_transition_invalid` (409)."""
    user = staff_with(request, "billing.open_close_season")
    return presenters.season_out(services.season_open(season=_season(code), by=user))


@router.post(
    "/billing/seasons/{code}/close",
    response={200: SeasonOut, **ERRORS},
    summary="Close a season (fixes late fees)",
)
def season_close(request: HttpRequest, code: str) -> dict[str, Any]:
    """Closes the season and fixes the late fee of every unpaid bill as of today into a line.
    Permission: `billing.open_close_season`. Errors: `season_not_found` (404),
    `season_transition_invalid` (409)."""
    user = staff_with(request, "billing.open_close_season")
    return presenters.season_out(services.season_close(season=_season(code), by=user))


@router.get(
    "/billing/seasons/{code}/tariffs",
    response={200: list[TariffOut], **ERRORS},
    summary="A season's tariffs",
)
def tariffs(request: HttpRequest, code: str) -> list[dict[str, Any]]:
    """Every version, newest first per usage and user type. Permission: `billing.view_tariff`.
    Errors: `season_not_found` (404)."""
    staff_with(request, "billing.view_tariff")
    season = _season(code)
    return [
        presenters.tariff_out(t)
        for t in Tariff.objects.filter(season=season).select_related("season")
    ]


@router.post(
    "/billing/seasons/{code}/tariffs",
    response={201: TariffOut, **ERRORS},
    summary="Add a tariff version",
)
def tariff_create(request: HttpRequest, code: str, payload: TariffIn) -> Status[Any]:
    """The next version for (season, usage type, user type). Permission: `billing.add_tariff`.
    Errors: `season_not_found` (404), `season_closed`, `tariff_conflict` (409),
    `validation_error` (422)."""
    user = staff_with(request, "billing.add_tariff")
    data = payload.dict()
    tariff = services.tariff_create(
        season=_season(code),
        usage_type=data.pop("usage_type"),
        user_type=data.pop("user_type"),
        by=user,
        **data,
    )
    return Status(201, presenters.tariff_out(tariff))


@router.post(
    "/billing/tariffs/{tariff_id}/versions",
    response={201: TariffOut, **ERRORS},
    summary="Copy a tariff into a new version",
)
def tariff_version(request: HttpRequest, tariff_id: int, payload: TariffVersionIn) -> Status[Any]:
    """How a tariff already used by bills is changed. Permission: `billing.add_tariff`.
    Errors: `tariff_not_found` (404), `season_closed` (409), `validation_error` (422, also
    for a term that does not exist)."""
    user = staff_with(request, "billing.add_tariff")
    tariff = Tariff.objects.select_related("season").filter(pk=tariff_id).first()
    if tariff is None:
        raise NotFound("未找到该热价。", code="tariff_not_found")
    unknown = sorted(set(payload.changes) - services.TARIFF_TERMS)
    if unknown:
        raise ValidationFailed(
            "无法修改这些项目。", fields={name: ["不是热价条款。"] for name in unknown}
        )
    created = services.tariff_new_version(tariff=tariff, by=user, **payload.changes)
    return Status(201, presenters.tariff_out(created))


# --- Billing runs -------------------------------------------------------------------------------


@router.post(
    "/billing/seasons/{code}/runs",
    response={202: RunOut, **ERRORS},
    summary="Start a billing run (dry run)",
)
def run_start(request: HttpRequest, code: str, payload: RunStartIn) -> Status[Any]:
    """Starts a run with its dry run (totals per community and usage type, anomalies); poll
    the run for progress, then commit it. Permission: `billing.run_billing`. Errors:
    `season_not_found` (404), `season_closed` (409)."""
    user = staff_with(request, "billing.run_billing")
    run = runs.billing_run_start(season=_season(code), by=user, batch_size=payload.batch_size)
    return Status(202, presenters.run_out(billing_run_get(public_id=run.public_id)))


@router.get("/billing/seasons/{code}/runs", response={200: list[RunOut], **ERRORS}, summary="Runs")
def run_list(request: HttpRequest, code: str) -> list[dict[str, Any]]:
    """A season's runs, newest first. Permission: `billing.view_billingrun`. Errors:
    `season_not_found` (404)."""
    staff_with(request, "billing.view_billingrun")
    return [presenters.run_out(r) for r in billing_runs_for_season(season=_season(code))]


@router.get("/billing/runs/{run_id}", response={200: RunOut, **ERRORS}, summary="A run's progress")
def run_detail(request: HttpRequest, run_id: str) -> dict[str, Any]:
    """Progress, the preview (totals, anomalies) and, once committing, what was written.
    Permission: `billing.view_billingrun`. Errors: `run_not_found` (404)."""
    staff_with(request, "billing.view_billingrun")
    return presenters.run_out(billing_run_get(public_id=run_id))


@router.post(
    "/billing/runs/{run_id}/commit", response={202: RunOut, **ERRORS}, summary="Commit a run"
)
def run_commit(request: HttpRequest, run_id: str) -> Status[Any]:
    """Bill every house of the previewed run that has no bill yet, in the background.
    Permission: `billing.run_billing`. Errors: `run_not_found` (404); `run_not_previewed`,
    `run_in_progress` (another run of the season is committing), `run_stale` (prices changed
    since the preview), `season_not_open` (409)."""
    user = staff_with(request, "billing.run_billing")
    run = runs.billing_run_commit(run=billing_run_get(public_id=run_id), by=user)
    return Status(202, presenters.run_out(run))


@router.post(
    "/billing/runs/{run_id}/resume", response={202: RunOut, **ERRORS}, summary="Resume a run"
)
def run_resume(request: HttpRequest, run_id: str) -> Status[Any]:
    """Continue a failed or interrupted run from its cursor. Permission:
    `billing.run_billing`. Errors: `run_not_found` (404); `run_not_resumable`,
    `run_in_progress` (409)."""
    user = staff_with(request, "billing.run_billing")
    run = runs.billing_run_resume(run=billing_run_get(public_id=run_id), by=user)
    return Status(202, presenters.run_out(run))


@router.post(
    "/billing/runs/{run_id}/cancel", response={200: RunOut, **ERRORS}, summary="Cancel a run"
)
def run_cancel(request: HttpRequest, run_id: str, payload: RunCancelIn) -> dict[str, Any]:
    """Stop a run; bills already written stay. Permission: `billing.run_billing`. Errors:
    `run_not_found` (404), `run_transition_invalid` (409)."""
    user = staff_with(request, "billing.run_billing")
    run = runs.billing_run_cancel(
        run=billing_run_get(public_id=run_id), by=user, reason=payload.reason
    )
    return presenters.run_out(run)


# --- Bills --------------------------------------------------------------------------------------


def _bill(bill_id: str) -> Bill:
    bill = Bill.objects.select_related("house", "season").filter(public_id=bill_id).first()
    if bill is None:
        raise NotFound("未找到该账单。", code="bill_not_found")
    return bill


@router.post(
    "/billing/bills/{bill_id}/adjustments",
    response={201: BillLineOut, **ERRORS},
    summary="Adjust a bill",
)
def bill_adjust(request: HttpRequest, bill_id: str, payload: AdjustmentIn) -> Status[Any]:
    """Add a correction line with its reason (issued bills are never edited); audited.
    Permission: `billing.adjust_bill`. Errors: `bill_not_found` (404);
    `bill_not_adjustable`, `bill_total_negative` (409); `validation_error` (422)."""
    user = staff_with(request, "billing.adjust_bill")
    bill = _bill(bill_id)
    line = services.bill_adjust(
        bill=bill, amount_fen=payload.amount_fen, reason=payload.reason, by=user
    )
    return Status(201, presenters.line_out(line))


@router.post(
    "/billing/bills/{bill_id}/heat-cut-off",
    response={200: BillOut, **ERRORS},
    summary="Record the heat cut-off date (停热日期)",
)
def bill_heat_cut_off(request: HttpRequest, bill_id: str, payload: HeatCutOffIn) -> dict[str, Any]:
    """Record the day heat was cut off for non-payment; the late fee stops accruing from it
    when the season's policy says so. Audited. Permission: `billing.adjust_bill`. Errors:
    `bill_not_found` (404); `bill_not_open`, `heat_cut_off_recorded`,
    `late_fee_already_fixed` (409); `validation_error` (422)."""
    user = staff_with(request, "billing.adjust_bill")
    bill = _bill(bill_id)
    services.bill_heat_cut_off_record(
        bill=bill, cut_off_on=payload.cut_off_on, by=user, reason=payload.reason
    )
    return presenters.bill_out(bill, as_of=clock.local_today())


@router.post(
    "/billing/bills/{bill_id}/heat-cut-off/clear",
    response={200: BillOut, **ERRORS},
    summary="Withdraw a heat cut-off date recorded in error",
)
def bill_heat_cut_off_clear(
    request: HttpRequest, bill_id: str, payload: HeatCutOffClearIn
) -> dict[str, Any]:
    """Audited. Permission: `billing.adjust_bill`. Errors: `bill_not_found` (404);
    `heat_cut_off_not_recorded`, `late_fee_already_fixed` (409); `validation_error` (422)."""
    user = staff_with(request, "billing.adjust_bill")
    bill = _bill(bill_id)
    services.bill_heat_cut_off_clear(bill=bill, by=user, reason=payload.reason)
    return presenters.bill_out(bill, as_of=clock.local_today())


# --- 报停 / 复供 ---------------------------------------------------------------------------------


def _change(change_id: str) -> HeatingChange:
    change = HeatingChange.objects.filter(public_id=change_id).first()
    if change is None:
        raise NotFound("未找到该申请。", code="application_not_found")
    return change


@router.get(
    "/billing/heating-changes",
    response={200: list[HeatingChangeOut], **ERRORS},
    summary="Stop/resume applications",
)
def heating_change_list(
    request: HttpRequest, status: str = HeatingChange.Status.PENDING
) -> list[dict[str, Any]]:
    """Applications with a status (default: pending), oldest first — the order to decide them
    in; at most 500. Permission: `billing.view_heatingchange`."""
    staff_with(request, "billing.view_heatingchange")
    found = (
        HeatingChange.objects.filter(status=status)
        .select_related("house", "season")
        .order_by("applied_at", "id")[:500]
    )
    return [presenters.heating_change_out(c) for c in found]


@router.post(
    "/billing/heating-changes/{change_id}/approve",
    response={200: HeatingChangeOut, **ERRORS},
    summary="Approve a stop/resume application",
)
def heating_change_approve(
    request: HttpRequest, change_id: str, payload: DecisionIn
) -> dict[str, Any]:
    """The house's heating status changes; an issued bill gets correction lines pro rata from
    the effective date. Permission: `billing.decide_heating_change`. Errors:
    `application_not_found` (404); `application_decided`, `arrears_outstanding`,
    `heating_status_mismatch`, `bill_not_issued`, `season_closed` (409);
    `validation_error` (422)."""
    user = staff_with(request, "billing.decide_heating_change")
    change = heating_changes.heating_change_approve(
        change=_change(change_id), by=user, effective_from=payload.effective_from
    )
    return presenters.heating_change_out(change)


@router.post(
    "/billing/heating-changes/{change_id}/reject",
    response={200: HeatingChangeOut, **ERRORS},
    summary="Reject a stop/resume application",
)
def heating_change_reject(
    request: HttpRequest, change_id: str, payload: RejectIn
) -> dict[str, Any]:
    """With a reason the resident reads. Permission: `billing.decide_heating_change`. Errors:
    `application_not_found` (404), `application_decided` (409), `validation_error` (422)."""
    user = staff_with(request, "billing.decide_heating_change")
    change = heating_changes.heating_change_reject(
        change=_change(change_id), by=user, reason=payload.reason
    )
    return presenters.heating_change_out(change)


# --- Meter readings -----------------------------------------------------------------------------


@router.post(
    "/billing/seasons/{code}/meter-readings",
    response={201: MeterImportOut, **ERRORS},
    summary="Import meter readings (.xlsx/.csv)",
)
def meter_import(request: HttpRequest, code: str, file: File[UploadedFile]) -> Status[Any]:
    """A multipart upload with columns 户号, 热表编号 (optional), 起始读数, 结束读数, 单位 (GJ or
    kWh), 抄表日期. All rows or none: with any error nothing is written and `fields` names
    each one by row. Permission: `billing.import_meter_readings`. Errors: `season_not_found`
    (404), `import_conflict` (409); `import_rows_invalid`, `import_header_missing`,
    `import_file_type`, `import_file_empty`, `import_file_too_large`,
    `import_file_unreadable` (422)."""
    user = staff_with(request, "billing.import_meter_readings")
    season = _season(code)
    tabular.check_size(file.size or 0)
    result = meters.meter_readings_import(
        season=season, file_name=file.name or "", data=file.read(), by=user
    )
    return Status(201, {"import_ref": result.import_ref, "created": result.created})


@router.post(
    "/billing/seasons/{code}/settlements",
    response={200: SettlementOut, **ERRORS},
    summary="Settle two-part bills on meter readings",
)
def settle(request: HttpRequest, code: str) -> dict[str, Any]:
    """Settle every two-part bill of the season with an unsettled reading; the refused ones
    are listed by 户号 with the reason. Permission: `billing.settle_metered`. Errors:
    `season_not_found` (404)."""
    user = staff_with(request, "billing.settle_metered")
    result = meters.season_settle_metered(season=_season(code), by=user)
    return {"settled": result.settled, "refused": result.refused}
