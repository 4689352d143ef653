from typing import ClassVar

from django.conf import settings
from django.db import models


class PaymentAlert(models.Model):
    """Something finance must look at: a rejected (possibly forged) notify, a payment that
    arrived after its order was closed, a bill paid twice, an order or refund the janitor gave
    up on, a reconciliation discrepancy. Also written to the log; resolved with a note."""

    class Kind(models.TextChoices):
        NOTIFY_REJECTED = "notify_rejected", "回调验签/校验失败"
        LATE_PAYMENT = "late_payment", "关单后到账"
        DOUBLE_PAYMENT = "double_payment", "重复缴费"
        JANITOR_GAVE_UP = "janitor_gave_up", "多次查单未果"
        REFUND_ABNORMAL = "refund_abnormal", "退款异常"
        RECONCILIATION = "reconciliation", "对账差异"
        SHIFT_DIFFERENCE = "shift_difference", "班次长短款"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    provider = models.CharField(max_length=20, blank=True)
    out_trade_no = models.CharField(max_length=32, blank=True, db_index=True)
    message = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)  # raw headers/body of a rejected notify…
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["resolved_at", "-created_at"], name="payment_alert_open"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_trade_no}"
