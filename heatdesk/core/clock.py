"""Time helpers: datetimes are stored in UTC, business dates are Asia/Shanghai local dates."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    return timezone.now()


def local_today() -> dt.date:
    """Today's date in Asia/Shanghai, whatever the server's zone."""
    return timezone.now().astimezone(SHANGHAI).date()


def to_local(moment: dt.datetime) -> dt.datetime:
    if timezone.is_naive(moment):
        raise ValueError("naive datetime: HeatDesk stores aware UTC datetimes only")
    return moment.astimezone(SHANGHAI)


def local_day_start(day: dt.date) -> dt.datetime:
    """The aware datetime at which a local day begins (00:00 Asia/Shanghai)."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)


def format_local(moment: dt.datetime) -> str:
    return to_local(moment).strftime("%Y-%m-%d %H:%M")
