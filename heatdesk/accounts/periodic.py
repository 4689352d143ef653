"""Periodic jobs of accounts (registered through heatdesk.core.periodic.autodiscover)."""

import datetime as dt

from heatdesk.accounts import services
from heatdesk.core.periodic import periodic_job


@periodic_job("accounts.sms_codes_purge", every=dt.timedelta(hours=1))
def sms_codes_purge() -> int:
    return services.sms_codes_purge()


@periodic_job("accounts.api_tokens_purge", every=dt.timedelta(hours=6))
def api_tokens_purge() -> int:
    return services.api_tokens_purge()
