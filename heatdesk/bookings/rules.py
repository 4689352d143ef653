"""Pure rules: which periods a resource works on a day, and which slot starts a service offers.

No database access here, so the availability engine can evaluate a month for many resources in
one pass over data fetched with a handful of queries.
"""

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from heatdesk.core.clock import SHANGHAI

TimeRange = tuple[dt.time, dt.time]


@dataclass(frozen=True)
class DayRule:
    """A calendar entry: `holiday` closes every resource; `workday` works as `as_weekday`."""

    kind: str
    as_weekday: int = 0


@dataclass(frozen=True)
class Timing:
    """The timing parts of a service that shape its slots."""

    duration: dt.timedelta
    buffer_before: dt.timedelta
    buffer_after: dt.timedelta
    step: dt.timedelta


def local_dt(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=SHANGHAI)


def periods_for_day(
    *,
    day: dt.date,
    weekly: Mapping[int, Sequence[TimeRange]],
    exceptions: Mapping[dt.date, Sequence[TimeRange]] | None,
    calendar: Mapping[dt.date, DayRule],
) -> list[tuple[dt.datetime, dt.datetime]]:
    """Working periods (aware, Asia/Shanghai) of one resource on `day`."""
    return periods_of(
        day, ranges_for_day(day=day, weekly=weekly, exceptions=exceptions, calendar=calendar)
    )


def ranges_for_day(
    *,
    day: dt.date,
    weekly: Mapping[int, Sequence[TimeRange]],
    exceptions: Mapping[dt.date, Sequence[TimeRange]] | None,
    calendar: Mapping[dt.date, DayRule],
) -> list[TimeRange]:
    """Working hours (local clock times, sorted) of one resource on `day`.

    Precedence: the resource's own exception for the day (an empty list = closed), then the
    company calendar (holiday = closed, make-up day = the plan of `as_weekday`), then the plan.
    """
    if exceptions is not None and day in exceptions:
        ranges: Sequence[TimeRange] = exceptions[day]
    else:
        rule = calendar.get(day)
        if rule is not None and rule.kind == "holiday":
            return []
        weekday = rule.as_weekday if rule is not None else day.weekday()
        ranges = weekly.get(weekday, ())
    return sorted(ranges)


def periods_of(day: dt.date, ranges: Sequence[TimeRange]) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(local_dt(day, starts), local_dt(day, ends)) for starts, ends in ranges]


def slot_starts(
    *, period: tuple[dt.datetime, dt.datetime], timing: Timing
) -> Iterator[dt.datetime]:
    """Starts of the appointments that fit in a period, buffers (travel) included."""
    period_start, period_end = period
    start = period_start + timing.buffer_before
    while start + timing.duration + timing.buffer_after <= period_end:
        yield start
        start += timing.step


def is_slot_start(
    *, starts_at: dt.datetime, periods: Sequence[tuple[dt.datetime, dt.datetime]], timing: Timing
) -> bool:
    """Whether `starts_at` is one of the slot starts of these periods."""
    for period_start, period_end in periods:
        first = period_start + timing.buffer_before
        if starts_at < first or starts_at + timing.duration + timing.buffer_after > period_end:
            continue
        if (starts_at - first) % timing.step == dt.timedelta(0):
            return True
    return False


Moment = TypeVar("Moment", float, dt.datetime)


def peak_overlap(intervals: Sequence[tuple[Moment, Moment]], start: Moment, end: Moment) -> int:
    """The most of `intervals` (half-open) in progress at one moment of [start, end).

    The peak over a range is reached at its start or where one of the intervals begins, so only
    those moments are counted. A shared window uses it: whatever the services sharing it, it
    never serves more than its capacity at once.
    """
    inside = [(s, e) for s, e in intervals if s < end and e > start]
    moments = [start] + [s for s, _ in inside if s > start]
    return max((sum(1 for s, e in inside if s <= m < e) for m in moments), default=0)
