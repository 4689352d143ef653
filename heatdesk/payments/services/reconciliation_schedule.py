"""Which days the periodic job reconciles: yesterday once the bills are out
(PAYMENTS_RECONCILE_AFTER_HOUR, Beijing time), and any recent day whose report is still PENDING
(bill not ready, no bill yet, a download that failed) or missing."""

import datetime as dt
import logging

from django.conf import settings

from heatdesk.core import clock
from heatdesk.payments.models import Provider, ReconciliationReport

logger = logging.getLogger("heatdesk.payments.reconciliation")

# How far back a missing or PENDING day is still tried by the job (WeChat serves 3 months).
LOOKBACK_DAYS = 7
PROVIDERS = (Provider.WECHATPAY, Provider.ALIPAY, Provider.COUNTER)


def days_due(*, today: dt.date, hour: int) -> list[dt.date]:
    """The days a run at local `hour` of `today` should look at, oldest first."""
    latest = today - dt.timedelta(days=1 if hour >= settings.PAYMENTS_RECONCILE_AFTER_HOUR else 2)
    return [latest - dt.timedelta(days=n) for n in range(LOOKBACK_DAYS - 1, -1, -1)]


def reconcile_due() -> list[ReconciliationReport]:
    from heatdesk.payments.services.reconciliation import reconcile_day

    now = clock.to_local(clock.now())
    days = days_due(today=now.date(), hour=now.hour)
    done = set(
        ReconciliationReport.objects.filter(bill_date__in=days)
        .exclude(status=ReconciliationReport.Status.PENDING)
        .values_list("provider", "bill_date")
    )
    reports = []
    for day in days:
        for provider in PROVIDERS:
            if (provider, day) in done:
                continue
            try:
                reports.append(reconcile_day(provider=provider, day=day))
            except Exception:  # one provider's trouble must not stop the others
                logger.exception("reconciliation of %s %s failed", provider, day)
    return reports
