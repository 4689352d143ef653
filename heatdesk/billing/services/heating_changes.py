"""报停 / 复供: residents apply for a bound house before the season's deadline; staff approve
(the house's heating status changes, and an issued bill is corrected pro rata from the effective
date) or reject with a reason. Every move is a compare-and-set on the application's status."""

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain, terms
from heatdesk.billing.calculation import CalculationError, heating_change_lines
from heatdesk.billing.models import Bill, HeatingChange, HeatingSeason
from heatdesk.billing.selectors import bill_live_for
from heatdesk.billing.selectors.account import arrears_before
from heatdesk.billing.services import ledger
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.estates.models import House
from heatdesk.estates.services import house_heating_status_set

Kind = HeatingChange.Kind
# The heating status a house must have for each kind of application, and the one it gets.
FROM_STATUS: dict[str, str] = {
    Kind.STOP: House.HeatingStatus.HEATING,
    Kind.RESUME: House.HeatingStatus.STOPPED,
}
TO_STATUS: dict[str, str] = {
    Kind.STOP: House.HeatingStatus.STOPPED,
    Kind.RESUME: House.HeatingStatus.HEATING,
}


def _in_season(season: HeatingSeason, day: dt.date, field: str) -> None:
    if not season.heating_start <= day <= season.heating_end:
        message = (
            f"生效日须在采暖季 {explain.period(season.heating_start, season.heating_end)} 之内。"
        )
        raise ValidationFailed(message, fields={field: [message]})


def _house_fits(house: House, kind: str) -> None:
    status = House.objects.filter(pk=house.pk).values_list("heating_status", flat=True).get()
    if status == House.HeatingStatus.DISCONNECTED:
        raise Conflict("该户已停供拆网，不能申请报停或复供。", code="house_disconnected")
    if status != FROM_STATUS[kind]:
        word = "报停" if kind == Kind.STOP else "复供"
        raise Conflict(
            f"该户当前为“{House.HeatingStatus(status).label}”，不能申请{word}。",
            code="heating_status_mismatch",
        )


def _no_arrears(house: House, season: HeatingSeason) -> None:
    owed = arrears_before(house=house, season=season, as_of=clock.local_today())
    if owed > 0:
        raise Conflict(
            f"该户往年欠费 {explain.yuan(owed)} 未缴清，请先缴清后再办理报停或复供。",
            code="arrears_outstanding",
        )


def heating_change_apply(
    *,
    resident: User,
    house: House,
    season: HeatingSeason,
    kind: str,
    requested_from: dt.date | None = None,
    note: str = "",
) -> HeatingChange:
    """Apply to stop or resume heating for `season`, on or before its application deadline,
    with every earlier season paid. One pending application per house. The caller has checked
    that `house` is bound to `resident`."""
    if kind not in Kind.values:
        raise ValidationFailed("请选择报停或复供。", fields={"kind": ["请选择报停或复供。"]})
    note = (note or "").strip()
    if len(note) > 200:
        raise ValidationFailed("说明不能超过200字。", fields={"note": ["说明不能超过200字。"]})
    requested_from = requested_from or season.heating_start
    _in_season(season, requested_from, "requested_from")
    if season.status == HeatingSeason.Status.CLOSED:
        raise Conflict(f"{season.code}采暖季已结束。", code="season_closed")
    if clock.local_today() > season.stop_apply_deadline:
        raise Conflict(
            f"{season.code}采暖季报停/复供须在 {explain.day(season.stop_apply_deadline)} 前申请，"
            "已过截止日期。",
            code="apply_deadline_passed",
        )
    _house_fits(house, kind)
    _no_arrears(house, season)
    try:
        with transaction.atomic():
            change = HeatingChange.objects.create(
                house=house,
                season=season,
                kind=kind,
                requested_from=requested_from,
                note=note,
                applicant=resident,
            )
            audit_record(
                actor=resident,
                action="billing.heating_change_apply",
                obj=change,
                after={"kind": kind, "season": season.code, "requested_from": str(requested_from)},
            )
    except IntegrityError:
        raise Conflict(
            "该户已有待审核的报停/复供申请，请等待审核结果。", code="application_pending"
        ) from None
    return change


def _pending(change: HeatingChange) -> HeatingChange:
    """The application, locked, if it still waits for a decision."""
    row = (
        HeatingChange.objects.select_for_update()
        .select_related("house", "season")
        .get(pk=change.pk)
    )
    if row.status != HeatingChange.Status.PENDING:
        raise Conflict(
            f"申请已{row.get_status_display()}，不能再审核。", code="application_decided"
        )
    return row


def _decide(row: HeatingChange, *, to: str, by: User, **stamps: Any) -> None:
    """Compare-and-set the application from pending to `to`."""
    if not HeatingChange.objects.filter(pk=row.pk, status=HeatingChange.Status.PENDING).update(
        status=to, decided_by=by, decided_at=clock.now(), **stamps
    ):
        raise Conflict("申请刚刚被他人审核，请刷新。", code="application_decided")


def heating_change_approve(
    *, change: HeatingChange, by: User, effective_from: dt.date | None = None
) -> HeatingChange:
    """Approve: the house's heating status changes, and its bill for the season — if issued —
    gets correction lines pro rata from the effective date (default: the date applied for).

    A bill not issued yet needs nothing (the run bills the new status for the whole season),
    so then the change can only take effect from the season's first day.
    """
    with transaction.atomic():
        row = _pending(change)
        house, season = row.house, row.season
        effective = effective_from or row.requested_from
        _in_season(season, effective, "effective_from")
        if season.status == HeatingSeason.Status.CLOSED:
            raise Conflict(f"{season.code}采暖季已结束。", code="season_closed")
        ledger.house_lock(house.pk)
        _house_fits(house, row.kind)
        _no_arrears(house, season)
        earlier = (
            HeatingChange.objects.filter(
                house=house, season=season, status=HeatingChange.Status.APPROVED
            )
            .exclude(pk=row.pk)
            .order_by("-effective_from")
            .values_list("effective_from", flat=True)
            .first()
        )
        if earlier is not None and effective < earlier:
            message = f"生效日不能早于本季上一次变更的生效日 {explain.day(earlier)}。"
            raise ValidationFailed(message, fields={"effective_from": [message]})
        bill = bill_live_for(house=house, season=season)
        corrected = None
        if bill is None or bill.status == Bill.Status.DRAFT:
            if effective != season.heating_start:
                raise Conflict(
                    "本季账单尚未开出，只能从供暖开始日起生效；如需按日折算，请先开账再审批。",
                    code="bill_not_issued",
                )
        else:
            corrected = _correct(bill=bill, change=row, effective=effective, by=by)
        _decide(
            row,
            to=HeatingChange.Status.APPROVED,
            by=by,
            effective_from=effective,
            bill=corrected,
        )
        house_heating_status_set(
            house=house,
            status=TO_STATUS[row.kind],
            by=by,
            reason=f"{row.get_kind_display()}申请 {row.public_id} 已批准",
        )
        audit_record(
            actor=by,
            action="billing.heating_change_approve",
            obj=row,
            before={"status": HeatingChange.Status.PENDING},
            after={
                "status": HeatingChange.Status.APPROVED,
                "effective_from": str(effective),
                "bill_id": corrected.pk if corrected else None,
            },
        )
    change.refresh_from_db()
    return change


def _correct(*, bill: Bill, change: HeatingChange, effective: dt.date, by: User) -> Bill:
    tariff = bill.tariff
    try:
        lines = heating_change_lines(
            change=change.kind,
            season=terms.season_dates(bill.season),
            terms=terms.tariff_terms(tariff),
            area=terms.chargeable_area_of_bill(bill),
            effective_from=effective,
        )
    except CalculationError as exc:
        raise ValidationFailed(str(exc), fields={"effective_from": [str(exc)]}) from exc
    now = clock.now()
    posted = ledger.bill_lines_post(
        bill=bill,
        lines=lines,
        by=by,
        explanation=(
            f"{change.get_kind_display()}更正（申请 {change.public_id}，"
            f"{explain.day(effective)}起）"
        ),
        at=now,
    )
    if posted.entry is not None:
        ledger.credit_apply(house_id=bill.house_id, cause=posted.entry, by=by, at=now)
    return bill


def heating_change_reject(*, change: HeatingChange, by: User, reason: str) -> HeatingChange:
    """Reject with a reason the resident will read; nothing else changes."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationFailed(
            "请填写驳回原因（200字以内）。", fields={"reason": ["请填写驳回原因（200字以内）。"]}
        )
    with transaction.atomic():
        row = _pending(change)
        _decide(row, to=HeatingChange.Status.REJECTED, by=by, decision_reason=reason)
        audit_record(
            actor=by,
            action="billing.heating_change_reject",
            obj=row,
            before={"status": HeatingChange.Status.PENDING},
            after={"status": HeatingChange.Status.REJECTED},
            reason=reason,
        )
    change.refresh_from_db()
    return change
