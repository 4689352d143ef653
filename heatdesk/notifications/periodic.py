"""Periodic jobs of notifications (registered through heatdesk.core.periodic.autodiscover)."""

import datetime as dt

from heatdesk.core.periodic import periodic_job
from heatdesk.notifications import services


@periodic_job("notifications.sms_requeue_stuck", every=dt.timedelta(minutes=1))
def sms_requeue_stuck() -> int:
    return services.sms_requeue_stuck()
