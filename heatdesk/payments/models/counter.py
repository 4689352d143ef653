from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.core.ids import new_public_id


def _shift_public_id() -> str:
    return new_public_id("sh")


class CounterShift(models.Model):
    """收费员班次: a collector's session at the counter. Closing it records, per channel, what
    the system expects (the sum of the shift's counter payments less cash refunds) and what the
    collector counted; a difference must be explained. One open shift per collector."""

    class Status(models.TextChoices):
        OPEN = "open", "当班"
        CLOSED = "closed", "已结班"

    public_id = models.CharField(
        max_length=24, unique=True, default=_shift_public_id, editable=False
    )
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="counter_shifts"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    opening_float_fen = models.BigIntegerField("备用金（分）", default=0)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # {"cash": fen, "pos": fen, "transfer": fen}
    expected = models.JSONField("应收", default=dict, blank=True)
    counted = models.JSONField("实点", default=dict, blank=True)
    difference_fen = models.BigIntegerField("差额（分）", default=0)
    note = models.CharField("说明", max_length=300, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-opened_at"]
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(
                fields=["collector"],
                condition=Q(status="open"),
                name="counter_shift_one_open",
            ),
            models.CheckConstraint(
                condition=Q(opening_float_fen__gte=0), name="counter_shift_float_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id
