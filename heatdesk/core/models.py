from django.db import models


class RateCounter(models.Model):
    """One fixed-window counter or cooldown for rate limits (see heatdesk.core.ratelimit)."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
