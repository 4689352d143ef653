"""Payments' periodic jobs (see `heatdesk.core.periodic`): the janitor every minute, and the
daily reconciliation of the previous Beijing days once the providers' bills are out."""

import datetime as dt

from heatdesk.core.periodic import periodic_job


@periodic_job("payments.janitor", every=dt.timedelta(minutes=1))
def payments_janitor() -> str:
    """Query due pending/unknown orders and refunds; close expired orders."""
    from heatdesk.payments.services.janitor import janitor_run

    return str(janitor_run())


@periodic_job("payments.reconcile", every=dt.timedelta(minutes=15))
def payments_reconcile() -> list[str]:
    """Reconcile every provider's recent days that have no usable report yet (after
    PAYMENTS_RECONCILE_AFTER_HOUR Beijing time for yesterday)."""
    from heatdesk.payments.services.reconciliation_schedule import reconcile_due

    return [f"{r.provider} {r.bill_date} {r.status}" for r in reconcile_due()]
