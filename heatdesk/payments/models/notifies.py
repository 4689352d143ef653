from typing import Any, ClassVar

from django.db import models


class ProviderNotify(models.Model):
    """A verified provider notification, kept once per (provider, event id): a redelivery finds
    its row and is acknowledged without being applied again. Rejected notifications are not
    stored here; they raise a PaymentAlert with the raw request."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "已处理"
        NO_CHANGE = "no_change", "无需变更"
        ALERT = "alert", "已告警"

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=20)  # payment / refund
    event_type = models.CharField(max_length=64, blank=True)
    out_trade_no = models.CharField(max_length=32, db_index=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.APPLIED)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="provider_notify_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id}"
