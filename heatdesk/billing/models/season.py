from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q

from heatdesk.billing.choices import LateFeeKind


class HeatingSeason(models.Model):
    """采暖季: the dates and the season-wide payment rules (early discount, late fee).

    Prices live in `Tariff` rows per season and user type; this row holds what applies to every
    bill of the season. Dates are Asia/Shanghai local dates, all of them inclusive.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        OPEN = "open", "进行中"
        CLOSED = "closed", "已结束"

    # The only moves a season makes; each is one compare-and-set service in billing.services.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.DRAFT: frozenset({Status.OPEN}),
        Status.OPEN: frozenset({Status.CLOSED}),
        Status.CLOSED: frozenset(),
    }

    code = models.CharField(
        "采暖年度",
        max_length=9,
        unique=True,
        validators=[RegexValidator(r"^\d{4}-\d{4}$", "采暖年度格式应为 2026-2027。")],
    )
    heating_start = models.DateField("供暖开始日")
    heating_end = models.DateField("供暖结束日")
    bill_issue_date = models.DateField("开账日")
    payment_due_date = models.DateField("缴费截止日")
    stop_apply_deadline = models.DateField("报停申请截止日")

    early_discount_rate = models.DecimalField(
        "提前缴费优惠比例", max_digits=5, decimal_places=4, null=True, blank=True
    )
    early_discount_last_day = models.DateField("提前缴费优惠截止日", null=True, blank=True)

    late_fee_kind = models.CharField(
        "滞纳金方式", max_length=20, choices=LateFeeKind.choices, default=LateFeeKind.NONE
    )
    # Daily: the share of the unpaid principal charged per day (0.002 = 2‰); one-off: the share
    # charged once (0.05 = 5%).
    late_fee_rate = models.DecimalField(
        "滞纳金比例", max_digits=7, decimal_places=6, default=Decimal(0)
    )
    late_fee_start_date = models.DateField("滞纳金起算日", null=True, blank=True)
    late_fee_cap_ratio = models.DecimalField(
        "滞纳金上限（占本金比例）", max_digits=5, decimal_places=4, default=Decimal(1)
    )
    late_fee_stops_at_cutoff = models.BooleanField("停止供热后不再计收", default=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-heating_start"]
        permissions = [("open_close_season", "Can open and close heating seasons")]
        verbose_name = "采暖季"
        verbose_name_plural = "采暖季"
        constraints = [
            models.CheckConstraint(
                condition=Q(heating_end__gte=F("heating_start")),
                name="season_dates_ordered",
                violation_error_message="供暖结束日不能早于供暖开始日。",
            ),
            models.CheckConstraint(
                condition=Q(payment_due_date__gte=F("bill_issue_date")),
                name="season_due_after_issue",
                violation_error_message="缴费截止日不能早于开账日。",
            ),
            models.CheckConstraint(
                condition=Q(stop_apply_deadline__lte=F("heating_start")),
                name="season_stop_deadline_before_start",
                violation_error_message="报停申请截止日不能晚于供暖开始日。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(early_discount_rate__isnull=True, early_discount_last_day__isnull=True)
                    | Q(
                        early_discount_rate__gt=Decimal(0),
                        early_discount_rate__lt=Decimal(1),
                        early_discount_last_day__isnull=False,
                        early_discount_last_day__lte=F("payment_due_date"),
                    )
                ),
                name="season_early_discount_valid",
                violation_error_message="提前缴费优惠须同时填写比例（0–100%%之间）和截止日，且截止日不晚于缴费截止日。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(late_fee_kind=LateFeeKind.NONE)
                    | Q(
                        late_fee_rate__gt=Decimal(0),
                        late_fee_rate__lte=Decimal(1),
                        late_fee_start_date__isnull=False,
                        late_fee_start_date__gt=F("payment_due_date"),
                    )
                ),
                name="season_late_fee_valid",
                violation_error_message="收取滞纳金时须填写比例（0–100%%之间）和起算日，且起算日晚于缴费截止日。",
            ),
            models.CheckConstraint(
                condition=Q(late_fee_cap_ratio__gte=Decimal(0)),
                name="season_late_fee_cap_nonneg",
                violation_error_message="滞纳金上限不能为负数。",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "open", "closed"]),
                name="season_status_valid",
                violation_error_message="采暖季状态无效。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}采暖季"

    @property
    def days(self) -> int:
        """Heating days, both ends counted (15 Nov–15 Mar 2027 is 121 days)."""
        return (self.heating_end - self.heating_start).days + 1
