from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from heatdesk.payments.models.orders import PaymentOrder
from heatdesk.payments.models.refunds import Refund


class ReconciliationReport(models.Model):
    """对账报告: one provider's bill for one Beijing day (or the counter's closed shifts of the
    day), matched against our orders and refunds, with totals on both sides."""

    class Status(models.TextChoices):
        PENDING = "pending", "待下载"  # bill not ready yet; retried
        FAILED = "failed", "下载/校验失败"
        DISCREPANT = "discrepant", "有差异"
        BALANCED = "balanced", "已平账"
        RESOLVED = "resolved", "差异已处理"

    provider = models.CharField(max_length=20)  # wechatpay / alipay / counter
    bill_date = models.DateField("账单日期")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    file_hash = models.CharField(max_length=128, blank=True)
    # {"provider": {"count":…, "paid_fen":…, "refund_fen":…}, "local": {…}}
    totals = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-bill_date", "provider"]
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["provider", "bill_date"], name="reconciliation_day_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.bill_date}"


class ReconciliationItem(models.Model):
    """One line of a report that did not simply match (matched rows are counted in totals)."""

    class Kind(models.TextChoices):
        CHANNEL_ONLY = "channel_only", "长款（渠道有、本地无）"
        LOCAL_ONLY = "local_only", "短款（本地有、渠道无）"
        AMOUNT_MISMATCH = "amount_mismatch", "金额不符"
        STATUS_MISMATCH = "status_mismatch", "状态不符"

    class State(models.TextChoices):
        OPEN = "open", "待处理"
        CARRIED = "carried", "跨日待核"  # near midnight: looked for again in the next days
        REPAIRED = "repaired", "已自动补单"
        RESOLVED = "resolved", "已人工处理"

    report = models.ForeignKey(ReconciliationReport, on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN)
    out_trade_no = models.CharField(max_length=32, blank=True, db_index=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    provider_fen = models.BigIntegerField(null=True, blank=True)
    local_fen = models.BigIntegerField(null=True, blank=True)
    order = models.ForeignKey(
        PaymentOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    note = models.CharField("处理说明", max_length=300, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.out_trade_no or self.out_refund_no}"
