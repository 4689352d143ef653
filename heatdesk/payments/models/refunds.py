from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.core.ids import new_public_id
from heatdesk.payments.models.counter import CounterShift
from heatdesk.payments.models.orders import PaymentOrder, Provider


def _refund_public_id() -> str:
    return new_public_id("rf")


class Refund(models.Model):
    """退款: part or all of a paid order given back, requested by staff and approved by finance
    (two different people), then sent to the provider under `out_refund_no` (minted and committed
    before the call; a retry reuses the number and the amount). A counter refund, once approved,
    waits PROCESSING (待柜台付款) until a collector pays it out of an open shift
    (`paid_out_shift`), through the order's channel.
    The sum of refunds not CLOSED/REJECTED never exceeds the order's paid amount, checked under a
    row lock on the order."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "待审批"
        REJECTED = "rejected", "已驳回"
        PROCESSING = "processing", "退款中"
        UNKNOWN = "unknown", "状态未知"
        SUCCEEDED = "succeeded", "已退款"
        CLOSED = "closed", "退款关闭"
        ABNORMAL = "abnormal", "退款异常"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.REQUESTED: frozenset(
            {
                Status.REJECTED,
                Status.PROCESSING,
                Status.UNKNOWN,
                Status.SUCCEEDED,
                Status.CLOSED,
                Status.ABNORMAL,
            }
        ),
        Status.PROCESSING: frozenset(
            {Status.UNKNOWN, Status.SUCCEEDED, Status.CLOSED, Status.ABNORMAL}
        ),
        Status.UNKNOWN: frozenset(
            {Status.PROCESSING, Status.SUCCEEDED, Status.CLOSED, Status.ABNORMAL}
        ),
        Status.ABNORMAL: frozenset({Status.SUCCEEDED, Status.CLOSED}),
        Status.SUCCEEDED: frozenset(),
        Status.CLOSED: frozenset(),
        Status.REJECTED: frozenset(),
    }
    # Refunds that count against what may still be refunded.
    HOLDING: ClassVar[frozenset[str]] = frozenset(
        {Status.REQUESTED, Status.PROCESSING, Status.UNKNOWN, Status.SUCCEEDED, Status.ABNORMAL}
    )

    public_id = models.CharField(
        max_length=24, unique=True, default=_refund_public_id, editable=False
    )
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField("退款单号", max_length=64, unique=True)
    amount_fen = models.BigIntegerField("退款金额（分）")
    reason = models.CharField("退款原因", max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    # Set when settlement found a bill already paid and the company refunds the second payment.
    automatic = models.BooleanField("重复缴费自动退款", default=False)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=200, blank=True)

    provider_request = models.TextField(blank=True)
    provider_refund_id = models.CharField(max_length=64, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=200, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    check_attempts = models.PositiveSmallIntegerField(default=0)
    needs_attention = models.BooleanField("待人工处理", default=False)
    # The one shift whose drawer paid this counter refund out (None for online refunds).
    paid_out_shift = models.ForeignKey(
        CounterShift,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds_paid_out",
        verbose_name="付款班次",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-requested_at"]
        constraints: ClassVar[list[Any]] = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "next_check_at"], name="refund_janitor"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no

    def status_label(self) -> str:
        """The status as people read it: an approved counter refund waits for the counter."""
        if self.status == self.Status.PROCESSING and self.order.provider == Provider.COUNTER:
            return "待柜台付款"
        return str(self.get_status_display())
