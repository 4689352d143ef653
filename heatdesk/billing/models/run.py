from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.billing.models.season import HeatingSeason
from heatdesk.core.ids import new_public_id

DEFAULT_BATCH_SIZE = 5000


def _run_public_id() -> str:
    return new_public_id("br")


def empty_tally() -> dict[str, Any]:
    return {"counts": {}, "totals": {}, "anomalies": {}}


class BillingRun(models.Model):
    """开账批次: bills every house of a season, in batches, first as a dry run, then for real.

    A run previews (nothing written but this row: totals per community and usage type, and the
    anomalies), then commits: each batch of houses is one transaction that writes complete bills
    with their lines and ledger entries and moves `cursor` past the batch. A crash loses at
    most the batch in flight; processing again continues from `cursor`. Houses created after
    the run started (`last_house_id`) are left to the next run; houses already billed are
    skipped, so a second run writes nothing twice.
    """

    class Status(models.TextChoices):
        PREVIEWING = "previewing", "预览中"
        PREVIEWED = "previewed", "已预览，待提交"
        COMMITTING = "committing", "开账中"
        COMMITTED = "committed", "已完成"
        FAILED = "failed", "出错暂停"
        CANCELLED = "cancelled", "已取消"

    class Phase(models.TextChoices):
        PREVIEW = "preview", "预览"
        COMMIT = "commit", "提交"

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PREVIEWING: frozenset({Status.PREVIEWED, Status.FAILED, Status.CANCELLED}),
        Status.PREVIEWED: frozenset({Status.COMMITTING, Status.CANCELLED}),
        Status.COMMITTING: frozenset({Status.COMMITTED, Status.FAILED, Status.CANCELLED}),
        Status.FAILED: frozenset({Status.PREVIEWING, Status.COMMITTING, Status.CANCELLED}),
        Status.COMMITTED: frozenset(),
        Status.CANCELLED: frozenset(),
    }
    ACTIVE: ClassVar[frozenset[str]] = frozenset({Status.PREVIEWING, Status.COMMITTING})

    public_id = models.CharField(max_length=24, unique=True, default=_run_public_id, editable=False)
    season = models.ForeignKey(HeatingSeason, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PREVIEWING)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.PREVIEW)
    batch_size = models.PositiveIntegerField(default=DEFAULT_BATCH_SIZE)

    # The houses of this run: ids up to `last_house_id` when it started, in id order.
    last_house_id = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField("户数", default=0)
    cursor = models.BigIntegerField("已处理到房屋ID", default=0)
    processed = models.PositiveIntegerField("已处理户数", default=0)

    # The tariff versions the preview used, per "usage_type/user_type"; a commit refuses to
    # run on other prices than the ones that were previewed.
    tariffs = models.JSONField(default=dict)
    # Meter ids shared by more than one house, found once when the run starts.
    duplicate_meters = models.JSONField(default=list)
    # {"counts": {...}, "totals": {community_id: {usage_type: {houses, amount_fen}}},
    #  "anomalies": {kind: [sample, ...]}}: what the preview found, and what the commit wrote.
    preview = models.JSONField(default=empty_tally)
    result = models.JSONField(default=empty_tally)
    error = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    previewed_at = models.DateTimeField(null=True, blank=True)
    commit_started_at = models.DateTimeField(null=True, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField("最近进展", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_billing", "Can start, preview, commit and resume billing runs")]
        verbose_name = "开账批次"
        verbose_name_plural = "开账批次"
        constraints = [
            # The per-season run lock: one run at a time writes a season's bills.
            models.UniqueConstraint(
                fields=["season"],
                condition=Q(status="committing"),
                name="billing_run_one_committing_per_season",
                violation_error_message="该采暖季已有正在开账的批次。",
            ),
            models.CheckConstraint(
                condition=Q(batch_size__gte=1, batch_size__lte=50000),
                name="billing_run_batch_size_range",
                violation_error_message="每批户数须在1–50000之间。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.season.code} 开账批次 {self.public_id}"

    @property
    def progress_percent(self) -> int:
        if not self.total:
            return 100 if self.status in {self.Status.PREVIEWED, self.Status.COMMITTED} else 0
        return min(100, self.processed * 100 // self.total)
