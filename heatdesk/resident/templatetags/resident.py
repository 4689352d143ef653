"""Template filters for resident pages: money in fen shown as yuan, times in Asia/Shanghai."""

import datetime as dt

from django import template

from heatdesk.core import clock
from heatdesk.core.money import format_fen

register = template.Library()


@register.filter
def fen(value: int | None) -> str:
    """123450 → '¥1,234.50'."""
    return format_fen(int(value or 0))


@register.filter
def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware datetime as Asia/Shanghai wall time."""
    if value is None:
        return ""
    return clock.to_local(value).strftime(fmt)
