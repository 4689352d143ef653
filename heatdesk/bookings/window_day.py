"""What a booking request needs to know before it books a window, read in one round trip: the
service (by code), its active windows, and on PostgreSQL their plans, exceptions and the
company calendar for the requested day.

Built with the ORM, the service and window reads cost more Python than the booking's writes;
written out and prepared once per connection (`core.rows`), the two reads below travel
together. They give what `selectors.service_get`, `selectors.resources_for` (for a counter
service) and `selectors._day_rules_and_plans` give.
"""

import datetime as dt
import functools
from dataclasses import dataclass

from django.db import connection

from heatdesk.bookings.models import CalendarDay, DayException, Resource, Service, WorkingHours
from heatdesk.bookings.rules import TimeRange
from heatdesk.bookings.selectors import DAY_RULE_FIELDS, DayRules, day_rules_from_rows
from heatdesk.core.errors import NotFound
from heatdesk.core.rows import Read, fetch_together

Plans = dict[int, dict[int, list[TimeRange]]]


@dataclass(frozen=True)
class WindowDay:
    """A service's active windows, by id, and (when read) their rules for `day`."""

    windows: list[Resource]
    day: dt.date | None = None
    rules: tuple[DayRules, Plans] | None = None


def service_with_windows(*, code: str, day: dt.date | None = None) -> tuple[Service, WindowDay]:
    """The active service `code` (else `service_not_found`, as `selectors.service_get`) and its
    active windows; with `day`, on PostgreSQL, their day rules and plans too (the one-statement
    booking path uses them; elsewhere they would be read twice)."""
    reads = [
        Read(
            _service_windows_sql(),
            [True, Resource.Kind.WINDOW.value, code],
            _SERVICE_WINDOWS_FIELDS,
            "hd_service_windows",
        )
    ]
    if day is not None and connection.vendor == "postgresql":
        at = connection.ops.adapt_datefield_value(day)
        reads.append(Read(_day_sql(), [code, code, at, at], _DAY_FIELDS, "hd_service_window_day"))
    answers = fetch_together(reads)
    rows = answers[0]
    if not rows or not rows[0][_SERVICE_ACTIVE]:
        raise NotFound("未找到该服务项目。", code="service_not_found")
    split = len(_SERVICE_FIELDS)
    service = Service.from_db(connection.alias, _SERVICE_NAMES, rows[0][:split])
    windows = [
        Resource.from_db(connection.alias, _RESOURCE_NAMES, row[split:])
        for row in rows
        if row[split] is not None
    ]
    if len(answers) == 1:
        return service, WindowDay(windows=windows)
    return service, WindowDay(windows=windows, day=day, rules=day_rules_from_rows(answers[1]))


# Only names known to the models are formatted into the SQL below; every value is a parameter.


@functools.cache
def _service_windows_sql() -> str:
    quote = connection.ops.quote_name
    through = Service.resources.through._meta.db_table
    columns = [f"s.{quote(f.column)}" for f in _SERVICE_FIELDS]
    columns += [f"r.{quote(f.column)}" for f in _RESOURCE_FIELDS]
    return (
        f"SELECT {', '.join(columns)} FROM {Service._meta.db_table} s "  # noqa: S608
        f"LEFT JOIN {through} sr ON sr.service_id = s.id "
        f"LEFT JOIN {Resource._meta.db_table} r ON r.id = sr.resource_id "
        "AND r.is_active = %s AND r.kind = %s WHERE s.code = %s ORDER BY r.id"
    )


@functools.cache
def _day_sql() -> str:
    through = Service.resources.through._meta.db_table
    ids = (
        f"SELECT sr.resource_id FROM {through} sr "  # noqa: S608
        f"JOIN {Service._meta.db_table} s ON s.id = sr.service_id WHERE s.code = %s"
    )
    return (
        "SELECT 'p', resource_id, weekday, NULL, NULL, starts, ends, NULL "  # noqa: S608
        f"FROM {WorkingHours._meta.db_table} WHERE resource_id IN ({ids}) "
        "UNION ALL SELECT 'x', resource_id, NULL, date, is_closed, starts, ends, NULL "
        f"FROM {DayException._meta.db_table} WHERE resource_id IN ({ids}) AND date = %s "
        "UNION ALL SELECT 'c', NULL, works_as_weekday, date, NULL, NULL, NULL, kind "
        f"FROM {CalendarDay._meta.db_table} WHERE date = %s"
    )


_SERVICE_FIELDS = list(Service._meta.concrete_fields)
_RESOURCE_FIELDS = list(Resource._meta.concrete_fields)
_SERVICE_NAMES = [f.attname for f in _SERVICE_FIELDS]
_RESOURCE_NAMES = [f.attname for f in _RESOURCE_FIELDS]
_SERVICE_ACTIVE = _SERVICE_NAMES.index("is_active")
_SERVICE_WINDOWS_FIELDS = [*_SERVICE_FIELDS, *_RESOURCE_FIELDS]
_DAY_FIELDS = DAY_RULE_FIELDS
