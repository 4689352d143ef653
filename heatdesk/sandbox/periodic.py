"""Sandbox periodic job: deliver simulator notifies that fell due while no courier was awake
(after a restart, or in a process that never took a payment)."""

import datetime as dt

from django.conf import settings

from heatdesk.core.periodic import periodic_job

if settings.SANDBOX:

    @periodic_job("sandbox.notify_deliver", every=dt.timedelta(minutes=1))
    def sandbox_notify_deliver() -> int:
        from heatdesk.sandbox.courier import deliver_due

        return deliver_due()
