"""Periodic booking jobs (run by `heatdesk runperiodic`): each calls one idempotent service."""

import datetime as dt

from heatdesk.bookings import services
from heatdesk.core.periodic import periodic_job


@periodic_job("bookings.holds_expire", every=dt.timedelta(minutes=1))
def holds_expire() -> int:
    """Holds that ran out, and pending bookings not approved before their start, expire."""
    return services.holds_expire()


@periodic_job("bookings.reminders_send", every=dt.timedelta(minutes=5))
def reminders_send() -> int:
    """The reminder SMS, once per booking, `reminder_hours_before` ahead."""
    return services.reminders_send()


@periodic_job("bookings.slots_reconcile", every=dt.timedelta(hours=24))
def slots_reconcile() -> int:
    """Repair slot counters that drifted from the active bookings."""
    return services.slots_reconcile()
