from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from heatdesk.billing.choices import CHARGE_KINDS, CREDIT_KINDS, AreaBasis, BillLineKind, Pricing
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.billing.models.tariff import Tariff
from heatdesk.core.ids import new_public_id
from heatdesk.estates.models import House


def _bill_public_id() -> str:
    return new_public_id("bl")


class Bill(models.Model):
    """采暖费账单: one per house per season, the sum of its lines.

    Lines and `total_fen` change only through `billing.services`, which appends lines and moves
    `total_fen` in the same transaction; once issued a bill is never edited (corrections are new
    lines), and `save()` refuses to overwrite a bill that has left the draft state.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "草稿"
        ISSUED = "issued", "待缴费"
        PARTIALLY_PAID = "partially_paid", "部分缴费"
        PAID = "paid", "已缴清"
        VOID = "void", "已作废"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.DRAFT: frozenset({Status.ISSUED, Status.VOID}),
        Status.ISSUED: frozenset({Status.PARTIALLY_PAID, Status.PAID, Status.VOID}),
        Status.PARTIALLY_PAID: frozenset({Status.PAID, Status.ISSUED}),
        Status.PAID: frozenset({Status.PARTIALLY_PAID, Status.ISSUED}),
        Status.VOID: frozenset(),
    }

    # Unique by a constraint (see Meta), not `unique=True`, which on PostgreSQL also builds a
    # second, pattern-matching index that no query uses and every billing run must maintain.
    public_id = models.CharField(max_length=24, default=_bill_public_id, editable=False)
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="bills")
    # Indexes a billing run must maintain for every bill are kept to the ones reads use:
    # (season, status) serves the season's lookups, nothing looks bills up by tariff or by
    # who issued or voided them. Nor does the database re-check, row by row at every commit,
    # that the season, tariff, run and users exist: those rows are never deleted (PROTECT
    # still refuses it through Django) and a run writes ids it has just read. The house keeps
    # its foreign key: that is the reference money hangs on.
    season = models.ForeignKey(
        HeatingSeason,
        on_delete=models.PROTECT,
        related_name="bills",
        db_index=False,
        db_constraint=False,
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="bills", db_index=False, db_constraint=False
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)

    # Snapshots: what the bill was computed from, so later changes to the house or a new tariff
    # version never change what an issued bill says.
    area = models.DecimalField("计费面积（㎡）", max_digits=10, decimal_places=2)
    area_basis = models.CharField("计费面积类型", max_length=20, choices=AreaBasis.choices)
    area_price = models.DecimalField("面积热价", max_digits=10, decimal_places=4)
    pricing = models.CharField("计费方式", max_length=20, choices=Pricing.choices)
    usage_type = models.CharField("用热性质", max_length=20, choices=House.UsageType.choices)
    user_type = models.CharField("用户类别", max_length=20, choices=House.UserType.choices)
    heating_status = models.CharField(
        "开账时供热状态", max_length=20, choices=House.HeatingStatus.choices
    )
    tariff_version = models.PositiveIntegerField("热价版本")

    total_fen = models.BigIntegerField("应收合计（分）", default=0)
    # What payments and account credit have covered; moved only by `billing.services.ledger`
    # together with the allocation rows that explain it (their sum, always).
    paid_fen = models.BigIntegerField("已缴（分）", default=0)
    run = models.ForeignKey(
        "billing.BillingRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bills",
        db_index=False,
        db_constraint=False,
        verbose_name="开账批次",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    void_reason = models.CharField(max_length=200, blank=True)
    # 停热日期: the day the company cut off this house's heat for non-payment. Where the season's
    # policy says so, the late fee accrues no day from then on. Set and cleared only by
    # `services.bill_heat_cut_off_record` / `_clear` (audited); it is not part of what the
    # bill charges, so recording it is not an edit of the bill.
    heat_cut_off_on = models.DateField("停热日期", null=True, blank=True)

    class Meta:
        ordering = ["-season__heating_start", "house_id"]
        permissions = [
            ("issue_bill", "Can issue heating bills"),
            ("adjust_bill", "Can add correction lines to issued bills"),
            ("void_bill", "Can void bills"),
        ]
        verbose_name = "账单"
        verbose_name_plural = "账单"
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="bill_public_id_unique"),
            # One live bill per house per season; a voided bill steps aside for its reissue.
            models.UniqueConstraint(
                fields=["house", "season"],
                condition=~Q(status="void"),
                name="bill_one_per_house_season",
                violation_error_message="该户本采暖季已有账单。",
            ),
            models.CheckConstraint(
                condition=Q(total_fen__gte=0, paid_fen__gte=0, paid_fen__lte=F("total_fen")),
                name="bill_paid_within_total",
                violation_error_message="账单合计不能为负数，已缴金额不能超过合计。",
            ),
            models.CheckConstraint(
                condition=Q(area__gte=Decimal(0)),
                name="bill_area_nonneg",
                violation_error_message="计费面积不能为负数。",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "void"]) | Q(issued_at__isnull=False),
                name="bill_issued_has_issued_at",
                violation_error_message="已开出的账单须有开账时间。",
            ),
            models.CheckConstraint(
                condition=~Q(status="void") | Q(voided_at__isnull=False),
                name="bill_void_has_voided_at",
                violation_error_message="已作废的账单须有作废时间。",
            ),
        ]
        indexes = [models.Index(fields=["season", "status"], name="bill_season_status_idx")]

    def __str__(self) -> str:
        return f"{self.season.code} {self.house.account_no}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and (
            type(self).objects.filter(pk=self.pk).exclude(status=self.Status.DRAFT).exists()
        ):
            raise RuntimeError("an issued bill is never edited: add a correction line instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("bills are never deleted: void them instead")

    @property
    def outstanding_fen(self) -> int:
        return self.total_fen - self.paid_fen


class BillLine(models.Model):
    """One explained amount on a bill. Append-only: corrections are new lines."""

    Kind = BillLineKind

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    unit = models.CharField(max_length=10, blank=True)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    ratio = models.DecimalField(max_digits=14, decimal_places=10, null=True, blank=True)
    amount_fen = models.BigIntegerField()
    period_from = models.DateField(null=True, blank=True)
    period_to = models.DateField(null=True, blank=True)
    explanation = models.CharField("说明", max_length=300)
    reason = models.CharField("原因", max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bill_id", "id"]
        verbose_name = "账单明细"
        verbose_name_plural = "账单明细"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind__in=sorted(map(str, CHARGE_KINDS)), amount_fen__gte=0)
                    | Q(kind__in=sorted(map(str, CREDIT_KINDS)), amount_fen__lte=0)
                    | (Q(kind="adjustment") & ~Q(amount_fen=0) & ~Q(reason=""))
                ),
                name="bill_line_sign_by_kind",
                violation_error_message="明细金额的正负与类型不符，或费用调整缺少原因。",
            ),
            models.CheckConstraint(
                condition=~Q(explanation=""),
                name="bill_line_explained",
                violation_error_message="每条明细都须有说明。",
            ),
            models.CheckConstraint(
                condition=Q(period_from__isnull=True)
                | Q(period_to__isnull=True)
                | Q(period_to__gte=models.F("period_from")),
                name="bill_line_period_ordered",
                violation_error_message="明细的结束日不能早于开始日。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("bill lines are append-only: add a correction line instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("bill lines are append-only: add a correction line instead")
