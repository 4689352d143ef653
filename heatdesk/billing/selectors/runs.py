"""Reads of billing runs: one run, a season's runs, and a run's totals for people."""

from typing import Any

from django.db.models import QuerySet

from heatdesk.billing import run_plan
from heatdesk.billing.models import BillingRun, HeatingSeason
from heatdesk.core.errors import NotFound
from heatdesk.estates.models import House


def billing_run_get(*, public_id: str) -> BillingRun:
    run = BillingRun.objects.select_related("season").filter(public_id=public_id).first()
    if run is None:
        raise NotFound("未找到该开账批次。", code="run_not_found")
    return run


def billing_runs_for_season(*, season: HeatingSeason) -> QuerySet[BillingRun]:
    return BillingRun.objects.filter(season=season).select_related("season").order_by("-id")


def run_totals(*, run: BillingRun, tally: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Totals per community and usage type, one row each, in community name order."""
    if tally is None:
        tally = run.result if run.phase == BillingRun.Phase.COMMIT else run.preview
    labels = dict(House.UsageType.choices)
    rows = []
    for community_id, by_usage in tally.get("totals", {}).items():
        for usage, figures in by_usage.items():
            if usage == "name":
                continue
            rows.append(
                {
                    "community_id": int(community_id),
                    "community": by_usage["name"],
                    "usage_type": usage,
                    "usage_label": str(labels.get(usage, usage)),
                    "houses": figures["houses"],
                    "amount_fen": figures["amount_fen"],
                }
            )
    return sorted(rows, key=lambda r: (r["community"], r["community_id"], r["usage_type"]))


def run_anomalies(*, run: BillingRun, tally: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    if tally is None:
        tally = run.result if run.phase == BillingRun.Phase.COMMIT else run.preview
    counts = tally.get("counts", {})
    return [
        {
            "kind": kind,
            "label": label,
            "count": counts.get(kind, 0),
            "samples": tally.get("anomalies", {}).get(kind, []),
        }
        for kind, label in run_plan.ANOMALIES.items()
    ]
