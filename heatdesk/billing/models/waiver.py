from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from heatdesk.billing.models.bill import Bill, BillLine
from heatdesk.core.ids import new_public_id


def _waiver_public_id() -> str:
    return new_public_id("lw")


class LateFeeWaiver(models.Model):
    """滞纳金减免申请: staff ask to waive all or part of a bill's late fee, with a reason; another
    staff member approves (a credit line on the bill and its ledger entry) or rejects with a note.

    Decided by `billing.services.late_fee_waivers` only, by compare-and-set on the status.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "已驳回"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED}),
        Status.APPROVED: frozenset(),
        Status.REJECTED: frozenset(),
    }

    public_id = models.CharField(
        max_length=24, unique=True, default=_waiver_public_id, editable=False
    )
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="late_fee_waivers")
    amount_fen = models.BigIntegerField("减免金额（分）")
    reason = models.CharField("申请原因", max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField("审批意见", max_length=200, blank=True)
    line = models.OneToOneField(
        BillLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="减免明细",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [
            ("request_late_fee_waiver", "Can request late-fee waivers"),
            ("approve_late_fee_waiver", "Can approve or reject late-fee waivers"),
        ]
        verbose_name = "滞纳金减免申请"
        verbose_name_plural = "滞纳金减免申请"
        constraints = [
            models.UniqueConstraint(
                fields=["bill"],
                condition=Q(status="pending"),
                name="late_fee_waiver_one_pending_per_bill",
                violation_error_message="该账单已有待审批的滞纳金减免申请。",
            ),
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0),
                name="late_fee_waiver_amount_positive",
                violation_error_message="减免金额须为正数。",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="late_fee_waiver_has_reason",
                violation_error_message="须填写减免原因。",
            ),
            models.CheckConstraint(
                condition=Q(status="pending")
                | (
                    Q(decided_at__isnull=False, decided_by__isnull=False)
                    & ~Q(decided_by=F("requested_by"))
                ),
                name="late_fee_waiver_decided_by_another",
                violation_error_message="已审批的申请须有审批人和审批时间，且审批人不能是申请人。",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(decision_note=""),
                name="late_fee_waiver_rejection_has_note",
                violation_error_message="驳回须填写意见。",
            ),
            models.CheckConstraint(
                condition=Q(status="approved", line__isnull=False)
                | (~Q(status="approved") & Q(line__isnull=True)),
                name="late_fee_waiver_approved_has_line",
                violation_error_message="批准的申请须有减免明细。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.amount_fen}"
