"""滞纳金减免: staff request waiving all or part of a bill's late fee with a reason; a different
staff member with the permission approves it (a credit line on the bill and its ledger entry)
or rejects it with a note. Every decision is a compare-and-set on the request's status.

Which late fee a waiver is measured against. The issue keeps the late fee derived, as of a day,
until the bill is paid in full or its season closes, and only then fixes it into a line. So:

* once fixed, a waiver is limited by the fixed line;
* before that, by the late fee as of today (the day of the request, and again the day of the
  approval). The waiver does not fix the fee early — that would stop it accruing, waiving more
  than was approved — nor wait for it to be fixed: the credit line goes on the bill at approval
  and nets against the late fee whenever that is fixed. The derived fee never falls as days
  pass (it grows or stops at its cap or the heat cut-off), so the waived amount stays within
  it; recording a heat cut-off that would take the fee below what was waived is refused.

In both cases what earlier approved waivers took off counts against the limit.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain
from heatdesk.billing.calculation import DraftLine
from heatdesk.billing.choices import BillLineKind
from heatdesk.billing.models import Bill, BillLine, LateFeeWaiver
from heatdesk.billing.selectors import bill_due_as_of
from heatdesk.billing.services import ledger
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed

Status = LateFeeWaiver.Status
MAX_REASON = 200


def late_fee_waived_fen(*, bill: Bill) -> int:
    """What approved waivers have taken off the bill's late fee so far (a positive number)."""
    total = BillLine.objects.filter(bill=bill, kind=BillLineKind.LATE_FEE_WAIVER).aggregate(
        s=Sum("amount_fen")
    )["s"]
    return -int(total or 0)


def late_fee_waivable_fen(*, bill: Bill, as_of: dt.date) -> int:
    """How much of the bill's late fee may still be waived on `as_of`: the fixed late fee, or
    the one as of `as_of` while it is not fixed, less what earlier waivers took off."""
    row = Bill.objects.select_related("season").get(pk=bill.pk)
    if row.status not in ledger.LIVE:
        return 0
    due = bill_due_as_of(bill=row, as_of=as_of)
    return max(due.late_fee_fen - late_fee_waived_fen(bill=row), 0)


def _checked(amount_fen: int, reason: str) -> str:
    fields: dict[str, list[str]] = {}
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        fields["amount_fen"] = ["减免金额须为正整数（分）。"]
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        fields["reason"] = ["请填写减免原因（1–200个字符）。"]
    if fields:
        raise ValidationFailed("请检查填写的内容。", fields=fields)
    return reason


def _check_waivable(bill: Bill, amount_fen: int, as_of: dt.date) -> int:
    """The amount still waivable; refuses a bill without a late fee or a larger amount."""
    if bill.status not in ledger.LIVE:
        raise Conflict(
            f"账单状态为“{bill.get_status_display()}”，不能减免滞纳金。",
            code="bill_not_waivable",
        )
    due = bill_due_as_of(bill=bill, as_of=as_of)
    if due.late_fee_fen <= 0:
        raise Conflict("该账单没有滞纳金，无需减免。", code="late_fee_none")
    left = max(due.late_fee_fen - late_fee_waived_fen(bill=bill), 0)
    if left <= 0:
        raise Conflict("该账单的滞纳金已全部减免。", code="late_fee_waived_already")
    if amount_fen > left:
        basis = "已计入账单的滞纳金" if due.late_fee_fixed else f"截至{explain.day(as_of)}的滞纳金"
        words = f"减免金额超过{basis}可减免的 {explain.yuan(left)}。"
        raise Conflict(
            words,
            code="waiver_exceeds_late_fee",
            fields={"amount_fen": [f"最多可减免 {left} 分。"]},
        )
    return left


def late_fee_waiver_request(*, bill: Bill, amount_fen: int, reason: str, by: User) -> LateFeeWaiver:
    """Ask to waive `amount_fen` of the bill's late fee (all of what is left, or part of it);
    one pending request per bill. Refused when the bill has no late fee or the amount is more
    than its late fee — fixed, or as of today while not fixed — less earlier waivers."""
    if not by.has_perm("billing.request_late_fee_waiver"):
        raise PermissionDenied("没有申请减免滞纳金的权限。", code="forbidden")
    reason = _checked(amount_fen, reason)
    today = clock.local_today()
    try:
        with transaction.atomic():
            ledger.house_lock(bill.house_id)
            row = Bill.objects.select_related("season").get(pk=bill.pk)
            left = _check_waivable(row, amount_fen, today)
            with transaction.atomic():
                waiver = LateFeeWaiver.objects.create(
                    bill=row, amount_fen=amount_fen, reason=reason, requested_by=by
                )
            audit_record(
                actor=by,
                action="billing.late_fee_waiver_request",
                obj=waiver,
                after={
                    "bill": row.public_id,
                    "amount_fen": amount_fen,
                    "waivable_fen": left,
                    "as_of": str(today),
                },
                reason=reason,
            )
    except IntegrityError:
        raise Conflict(
            "该账单已有待审批的滞纳金减免申请，请等待审批结果。", code="waiver_pending"
        ) from None
    return waiver


def _pending(waiver: LateFeeWaiver) -> LateFeeWaiver:
    row = LateFeeWaiver.objects.select_for_update().get(pk=waiver.pk)
    if row.status != Status.PENDING:
        raise Conflict(f"申请已{row.get_status_display()}，不能再审批。", code="waiver_not_pending")
    return row


def _approver(waiver: LateFeeWaiver, by: User) -> None:
    if not by.has_perm("billing.approve_late_fee_waiver"):
        raise PermissionDenied("没有审批滞纳金减免的权限。", code="forbidden")
    if waiver.requested_by_id == by.pk:
        raise Conflict("申请人不能审批自己的减免申请。", code="waiver_same_person")


def _decide(row: LateFeeWaiver, *, to: str, by: User, **stamps: object) -> None:
    """Compare-and-set the request from pending to `to`."""
    if not LateFeeWaiver.objects.filter(pk=row.pk, status=Status.PENDING).update(
        status=to, decided_by=by, decided_at=clock.now(), **stamps
    ):
        raise Conflict("申请刚刚被他人审批，请刷新。", code="waiver_not_pending")


def late_fee_waiver_approve(*, waiver: LateFeeWaiver, by: User) -> LateFeeWaiver:
    """Approve (never by the person who asked): in one transaction the bill gets a 滞纳金减免
    credit line, the account its ledger entry, the request its decision, the audit log a row.

    The amount is checked again under the house's lock against the late fee as of today. When
    the bill was already paid, the waived money becomes account credit and goes to the
    house's other open bills, oldest first."""
    _approver(waiver, by)
    house_id = Bill.objects.filter(pk=waiver.bill_id).values_list("house_id", flat=True).get()
    today = clock.local_today()
    with transaction.atomic():
        ledger.house_lock(house_id)
        row = _pending(waiver)
        _approver(row, by)
        # The bill's row too (after the house's, as the ledger orders locks): a heat cut-off
        # recorded meanwhile could lower the late fee under the amount.
        bill = (
            Bill.objects.select_for_update(of=("self",))
            .select_related("season")
            .get(pk=row.bill_id)
        )
        left = _check_waivable(bill, row.amount_fen, today)
        now = clock.now()
        words = f"滞纳金减免 {explain.yuan(row.amount_fen)}（申请 {row.public_id}）：{row.reason}"
        posted = ledger.bill_lines_post(
            bill=bill,
            lines=[
                DraftLine(
                    kind=BillLineKind.LATE_FEE_WAIVER,
                    amount_fen=-row.amount_fen,
                    explanation=words[:300],
                    reason=row.reason,
                )
            ],
            by=by,
            explanation=f"{words}（账单 {bill.public_id}）"[:300],
            kind=ledger.Kind.CREDIT,
            at=now,
        )
        if posted.entry is not None:
            ledger.credit_apply(house_id=house_id, cause=posted.entry, by=by, at=now)
        _decide(row, to=Status.APPROVED, by=by, line=posted.lines[0])
        audit_record(
            actor=by,
            action="billing.late_fee_waiver_approve",
            obj=row,
            before={"status": Status.PENDING, "waivable_fen": left},
            after={
                "status": Status.APPROVED,
                "bill": bill.public_id,
                "amount_fen": row.amount_fen,
                "bill_total_fen": bill.total_fen,
                "released_fen": posted.released_fen,
                "requested_by": row.requested_by_id,
            },
            reason=row.reason,
        )
    waiver.refresh_from_db()
    return waiver


def late_fee_waiver_reject(*, waiver: LateFeeWaiver, by: User, note: str) -> LateFeeWaiver:
    """Reject with a note (never by the person who asked); nothing else changes."""
    _approver(waiver, by)
    note = (note or "").strip()
    if not note or len(note) > MAX_REASON:
        raise ValidationFailed(
            "请填写驳回意见（1–200个字符）。", fields={"note": ["请填写驳回意见（1–200个字符）。"]}
        )
    with transaction.atomic():
        row = _pending(waiver)
        _approver(row, by)
        _decide(row, to=Status.REJECTED, by=by, decision_note=note)
        audit_record(
            actor=by,
            action="billing.late_fee_waiver_reject",
            obj=row,
            before={"status": Status.PENDING},
            after={"status": Status.REJECTED, "amount_fen": row.amount_fen},
            reason=note,
        )
    waiver.refresh_from_db()
    return waiver
