from django.db import models


class RateCounter(models.Model):
    """One rate counter (fixed or rolling window) or cooldown (see heatdesk.core.ratelimit)."""

    key = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"


class PeriodicJobState(models.Model):
    """When a periodic job may run next, and how its last run went (see heatdesk.core.periodic).

    A runner claims a due job by moving `next_run_at` forward in one compare-and-set UPDATE, so
    two runners never start the same job in the same period.
    """

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "定时任务状态"
        verbose_name_plural = "定时任务状态"

    def __str__(self) -> str:
        return self.name
