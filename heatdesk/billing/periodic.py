"""Billing's periodic jobs (see `heatdesk.core.periodic`)."""

import datetime as dt

from heatdesk.billing.services.runs import billing_runs_resume_stale
from heatdesk.core.periodic import periodic_job


@periodic_job("billing.runs_resume_stale", every=dt.timedelta(minutes=5))
def runs_resume_stale() -> int:
    """Queue again the billing runs whose worker died mid-run; they continue from their cursor."""
    return len(billing_runs_resume_stale())
