from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.billing.models.bill import Bill
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.core.ids import new_public_id
from heatdesk.estates.models import House


def _change_public_id() -> str:
    return new_public_id("hc")


class HeatingChange(models.Model):
    """报停 / 复供申请: a resident asks to stop or resume heating for a season; staff decide.

    Approval changes the house's heating status (through `estates.services`) and, from the
    effective date, corrects an issued bill with new lines, pro rata by day.
    """

    class Kind(models.TextChoices):
        STOP = "stop", "报停"
        RESUME = "resume", "复供"

    class Status(models.TextChoices):
        PENDING = "pending", "待审核"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "已驳回"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING: frozenset({Status.APPROVED, Status.REJECTED}),
        Status.APPROVED: frozenset(),
        Status.REJECTED: frozenset(),
    }

    public_id = models.CharField(
        max_length=24, unique=True, default=_change_public_id, editable=False
    )
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="heating_changes")
    season = models.ForeignKey(
        HeatingSeason, on_delete=models.PROTECT, related_name="heating_changes"
    )
    kind = models.CharField("申请类型", max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_from = models.DateField("申请生效日")
    note = models.CharField("申请说明", max_length=200, blank=True)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(auto_now_add=True)

    effective_from = models.DateField("实际生效日", null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField("审核意见", max_length=200, blank=True)
    bill = models.ForeignKey(
        Bill,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="更正的账单",
    )

    class Meta:
        ordering = ["-applied_at", "-id"]
        permissions = [("decide_heating_change", "Can approve or reject stop/resume applications")]
        verbose_name = "报停/复供申请"
        verbose_name_plural = "报停/复供申请"
        constraints = [
            models.UniqueConstraint(
                fields=["house"],
                condition=Q(status="pending"),
                name="heating_change_one_pending_per_house",
                violation_error_message="该户已有待审核的报停/复供申请。",
            ),
            models.CheckConstraint(
                condition=Q(status="pending")
                | Q(decided_at__isnull=False, decided_by__isnull=False),
                name="heating_change_decided_stamped",
                violation_error_message="已审核的申请须有审核人和审核时间。",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(decision_reason=""),
                name="heating_change_rejection_has_reason",
                violation_error_message="驳回须填写原因。",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(effective_from__isnull=False),
                name="heating_change_approval_has_date",
                violation_error_message="批准的申请须有生效日。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.house.account_no} {self.season.code}"
