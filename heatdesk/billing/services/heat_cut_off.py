"""停热: recording the day a house's heat was cut off for non-payment.

Where the season's late-fee policy stops at the cut-off (Tianjin's rule), no day from that date
on accrues a late fee; the derived fee, and the one fixed into the bill when it is paid or the
season closes, both read the date from the bill. Recording or clearing it is a staff change to
money and is written to the audit log.
"""

import datetime as dt

from django.db import transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain
from heatdesk.billing.choices import BillLineKind
from heatdesk.billing.models import Bill, BillLine
from heatdesk.billing.selectors import OPEN, bill_late_fee_as_of
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, ValidationFailed


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写原因。", fields={"reason": ["请填写原因。"]})
    if len(reason) > 200:
        raise ValidationFailed("原因不能超过200字。", fields={"reason": ["原因不能超过200字。"]})
    return reason


def _refuse_when_fee_fixed(bill: Bill) -> None:
    if BillLine.objects.filter(bill=bill, kind=BillLineKind.LATE_FEE).exists():
        raise Conflict(
            "该账单的滞纳金已计入账单，停热日期不再影响金额。", code="late_fee_already_fixed"
        )


def _refuse_below_waived(bill: Bill, cut_off_on: dt.date) -> None:
    """An approved 滞纳金减免 of a fee not fixed yet counts on the fee never falling; a cut-off
    that would take it below what was waived is refused (the waiver was for more)."""
    waived = -int(
        BillLine.objects.filter(bill=bill, kind=BillLineKind.LATE_FEE_WAIVER).aggregate(
            s=Sum("amount_fen")
        )["s"]
        or 0
    )
    if not waived:
        return
    fee = bill_late_fee_as_of(bill=bill, as_of=clock.local_today(), heat_cut_off_on=cut_off_on)
    if (fee.amount_fen if fee else 0) < waived:
        raise Conflict(
            f"该账单已减免滞纳金 {explain.yuan(waived)}，按此停热日期计算的滞纳金将少于已减免的"
            "金额，不能登记。",
            code="late_fee_waived",
        )


def bill_heat_cut_off_record(
    *, bill: Bill, cut_off_on: dt.date, by: User | None, reason: str
) -> Bill:
    """Record that heat was cut off on `cut_off_on` for an unpaid bill, so its late fee stops
    accruing from that day (when the season's policy says so). The date lies within the
    heating season and not after today; a bill has one cut-off date (clear it to correct it)."""
    reason = _reason(reason)
    if not isinstance(cut_off_on, dt.date) or isinstance(cut_off_on, dt.datetime):
        raise ValidationFailed("请填写停热日期。", fields={"cut_off_on": ["请填写停热日期。"]})
    with transaction.atomic():
        row = Bill.objects.select_for_update().select_related("season").get(pk=bill.pk)
        season = row.season
        if not season.heating_start <= cut_off_on <= season.heating_end:
            span = explain.period(season.heating_start, season.heating_end)
            words = f"停热日期须在采暖期内（{span}）。"
            raise ValidationFailed(words, fields={"cut_off_on": [words]})
        if cut_off_on > clock.local_today():
            words = "停热日期不能晚于今天。"
            raise ValidationFailed(words, fields={"cut_off_on": [words]})
        if row.status not in OPEN:
            raise Conflict(
                f"账单状态为“{row.get_status_display()}”，只有未缴清的账单可以登记停热。",
                code="bill_not_open",
            )
        if row.heat_cut_off_on is not None:
            raise Conflict(
                f"该账单已登记停热日期 {explain.day(row.heat_cut_off_on)}，如需更正请先撤销。",
                code="heat_cut_off_recorded",
            )
        _refuse_when_fee_fixed(row)
        _refuse_below_waived(row, cut_off_on)
        # Compare-and-set: nothing recorded meanwhile, and the bill still waits for money.
        moved = Bill.objects.filter(
            pk=row.pk, heat_cut_off_on__isnull=True, status__in=OPEN
        ).update(heat_cut_off_on=cut_off_on)
        if not moved:
            raise Conflict("账单刚刚被他人修改，请刷新后重试。", code="bill_conflict")
        audit_record(
            actor=by,
            action="billing.bill_heat_cut_off",
            obj=row,
            before={"heat_cut_off_on": None},
            after={"heat_cut_off_on": cut_off_on.isoformat()},
            reason=reason,
        )
    bill.refresh_from_db()
    return bill


def bill_heat_cut_off_clear(*, bill: Bill, by: User | None, reason: str) -> Bill:
    """Withdraw a cut-off date recorded in error; the late fee accrues as if none was recorded.
    Refused once the late fee has been fixed into the bill."""
    reason = _reason(reason)
    with transaction.atomic():
        row = Bill.objects.select_for_update().get(pk=bill.pk)
        if row.heat_cut_off_on is None:
            raise Conflict("该账单未登记停热日期。", code="heat_cut_off_not_recorded")
        _refuse_when_fee_fixed(row)
        moved = Bill.objects.filter(pk=row.pk, heat_cut_off_on=row.heat_cut_off_on).update(
            heat_cut_off_on=None
        )
        if not moved:
            raise Conflict("账单刚刚被他人修改，请刷新后重试。", code="bill_conflict")
        audit_record(
            actor=by,
            action="billing.bill_heat_cut_off_clear",
            obj=row,
            before={"heat_cut_off_on": row.heat_cut_off_on.isoformat()},
            after={"heat_cut_off_on": None},
            reason=reason,
        )
    bill.refresh_from_db()
    return bill
