"""Background jobs of billing. Each takes primary keys, calls one service, and is safe to run
twice (a billing run's batches lock the run, so two workers take turns)."""

from typing import Any

from django_tasks import task

from heatdesk.billing.services.runs import billing_run_process


@task()
def billing_run_work(run_id: int) -> dict[str, Any]:
    """Process a billing run (dry run or commit) until it is done, paused or failed."""
    run = billing_run_process(run_id=run_id)
    return {"status": run.status, "processed": run.processed, "total": run.total}
