"""Reads shared by the API, the admin and the services: availability, bookings, schedules.

Availability is computed from a handful of range queries (resources and their plans, the
exceptions and calendar days in range, the windows' slot counters and the teams' active
bookings in range) and the pure rules in `rules.py`, so a month for twenty resources is one
short pass in Python. It is a display: the booking services re-check everything under the
database's guard.
"""

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections
from django.db.models import BigIntegerField, Func, Prefetch, Q, QuerySet

from heatdesk.accounts.models import User
from heatdesk.bookings.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingEvent,
    CalendarDay,
    DayException,
    Resource,
    Service,
    Slot,
    WorkingHours,
)
from heatdesk.bookings.rules import (
    DayRule,
    TimeRange,
    Timing,
    is_slot_start,
    local_dt,
    periods_for_day,
    periods_of,
    ranges_for_day,
)
from heatdesk.core import clock
from heatdesk.core.errors import NotFound
from heatdesk.core.rows import column, fetch

MAX_RANGE_DAYS = 62
# The company calendar and each resource's exceptions over a range, as read by `_calendar` and
# `_exceptions`.
DayRules = tuple[dict[dt.date, DayRule], dict[int, dict[dt.date, list[TimeRange]]]]


@dataclass(frozen=True)
class SlotOffer:
    """A bookable start: how many places remain, and on which resources (best first)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    remaining: int
    resource_ids: tuple[int, ...]


def timing_of(service: Service) -> Timing:
    return Timing(
        duration=dt.timedelta(minutes=service.duration_minutes),
        buffer_before=dt.timedelta(minutes=service.buffer_before_minutes),
        buffer_after=dt.timedelta(minutes=service.buffer_after_minutes),
        step=dt.timedelta(minutes=service.slot_interval_minutes),
    )


def slot_capacity(*, service: Service, resource: Resource) -> int:
    if resource.exclusive:
        return 1
    return min(service.capacity_per_slot, resource.capacity_per_slot)


def active_q(*, now: dt.datetime) -> Q:
    """Bookings that hold a place: pending, confirmed, and holds that have not run out."""
    return Q(status__in=[Booking.Status.PENDING, Booking.Status.CONFIRMED]) | Q(
        status=Booking.Status.HELD, hold_expires_at__gt=now
    )


def services_bookable() -> QuerySet[Service]:
    return Service.objects.filter(is_active=True).order_by("code")


def service_get(*, code: str, active_only: bool = True) -> Service:
    service = Service.objects.filter(code=code).first()
    if service is None or (active_only and not service.is_active):
        raise NotFound("未找到该服务项目。", code="service_not_found")
    return service


def resources_for(*, service: Service, community_id: int | None) -> list[Resource]:
    """Active resources that perform `service`, limited to teams serving the community."""
    kind = Resource.Kind.TEAM if service.kind == Service.Kind.VISIT else Resource.Kind.WINDOW
    qs = service.resources.filter(is_active=True, kind=kind)
    if kind == Resource.Kind.TEAM:
        if community_id is None:
            return []
        qs = qs.filter(communities=community_id)
    return list(qs.order_by("id"))


def _calendar(first: dt.date, last: dt.date) -> dict[dt.date, DayRule]:
    return {
        day.date: DayRule(kind=day.kind, as_weekday=day.works_as_weekday)
        for day in CalendarDay.objects.filter(date__range=(first, last))
    }


def _exceptions(
    resource_ids: list[int], first: dt.date, last: dt.date
) -> dict[int, dict[dt.date, list[TimeRange]]]:
    """Per resource and day, the exception's periods; a closed row closes the whole day."""
    found: dict[int, dict[dt.date, list[TimeRange]]] = defaultdict(dict)
    closed: set[tuple[int, dt.date]] = set()
    rows = DayException.objects.filter(resource_id__in=resource_ids, date__range=(first, last))
    for row in rows:
        day_ranges = found[row.resource_id].setdefault(row.date, [])
        if row.is_closed:
            closed.add((row.resource_id, row.date))
        elif row.starts is not None and row.ends is not None:
            day_ranges.append((row.starts, row.ends))
    for resource_id, day in closed:
        found[resource_id][day] = []
    return found


def _weekly(resource: Resource) -> dict[int, list[TimeRange]]:
    weekly: dict[int, list[TimeRange]] = defaultdict(list)
    for hours in resource.working_hours.all():
        weekly[hours.weekday].append((hours.starts, hours.ends))
    return weekly


def _weekly_plans(resource_ids: list[int]) -> dict[int, dict[int, list[TimeRange]]]:
    """Each resource's weekly plan (weekday → working hours), read as plain values."""
    plans: dict[int, dict[int, list[TimeRange]]] = {}
    rows = (
        WorkingHours.objects.filter(resource_id__in=resource_ids)
        .order_by("resource_id", "weekday", "starts")
        .values_list("resource_id", "weekday", "starts", "ends")
    )
    for resource_id, weekday, starts, ends in rows:
        plans.setdefault(resource_id, {}).setdefault(weekday, []).append((starts, ends))
    return plans


# The fields of `_day_rules_and_plans`' row columns, for decoding them (availability and the
# booking's one-round-trip read share the rows' shape).
DAY_RULE_FIELDS = [
    column(CalendarDay, "kind"),
    column(WorkingHours, "resource"),
    column(WorkingHours, "weekday"),
    column(DayException, "date"),
    column(DayException, "is_closed"),
    column(DayException, "starts"),
    column(DayException, "ends"),
    column(CalendarDay, "kind"),
]


def _day_rules_and_plans(
    resource_ids: list[int], first: dt.date, last: dt.date
) -> tuple[DayRules, dict[int, dict[int, list[TimeRange]]]]:
    """The company calendar and the resources' exceptions over a range (as `_calendar` and
    `_exceptions` read them) and their weekly plans (as `_weekly_plans`), in one round trip:
    three small reads that every availability answer and every booking needs."""
    plans_table = WorkingHours._meta.db_table
    exceptions_table = DayException._meta.db_table
    calendar_table = CalendarDay._meta.db_table
    marks = ", ".join(["%s"] * len(resource_ids))
    ops = connection.ops
    lo, hi = ops.adapt_datefield_value(first), ops.adapt_datefield_value(last)
    # Only table names and placeholders are formatted in; every value is a parameter.
    sql = (
        f"SELECT 'p', resource_id, weekday, NULL, NULL, starts, ends, NULL FROM {plans_table} "  # noqa: S608
        f"WHERE resource_id IN ({marks}) "
        f"UNION ALL SELECT 'x', resource_id, NULL, date, is_closed, starts, ends, NULL "
        f"FROM {exceptions_table} WHERE resource_id IN ({marks}) AND date BETWEEN %s AND %s "
        f"UNION ALL SELECT 'c', NULL, works_as_weekday, date, NULL, NULL, NULL, kind "
        f"FROM {calendar_table} WHERE date BETWEEN %s AND %s"
    )
    fields = DAY_RULE_FIELDS
    params = [*resource_ids, *resource_ids, lo, hi, lo, hi] if resource_ids else None
    if params is None:  # no resource: only the calendar (IN () is not valid SQL)
        sql = sql[sql.rindex("UNION ALL ") + len("UNION ALL ") :]
        params = [lo, hi]
    return day_rules_from_rows(fetch(sql, params, fields))


def day_rules_from_rows(
    rows: Iterable[Sequence[Any]],
) -> tuple[DayRules, dict[int, dict[int, list[TimeRange]]]]:
    """`_day_rules_and_plans`' rows — ('p', plan), ('x', exception) and ('c', calendar day) —
    as the calendar, each resource's exceptions and each resource's weekly plans."""
    calendar: dict[dt.date, DayRule] = {}
    found: dict[int, dict[dt.date, list[TimeRange]]] = defaultdict(dict)
    closed: set[tuple[int, dt.date]] = set()
    weekly: list[tuple[int, int, dt.time, dt.time]] = []
    for kind, resource_id, weekday, date, is_closed, starts, ends, day_kind in rows:
        if kind == "p":
            weekly.append((resource_id, weekday, starts, ends))
        elif kind == "x":
            day_ranges = found[resource_id].setdefault(date, [])
            if is_closed:
                closed.add((resource_id, date))
            elif starts is not None and ends is not None:
                day_ranges.append((starts, ends))
        else:
            calendar[date] = DayRule(kind=day_kind, as_weekday=weekday)
    for resource_id, day in closed:
        found[resource_id][day] = []
    plans: dict[int, dict[int, list[TimeRange]]] = {}
    for resource_id, weekday, starts, ends in sorted(weekly):
        plans.setdefault(resource_id, {}).setdefault(weekday, []).append((starts, ends))
    return (calendar, found), plans


def bookable_window(*, service: Service, now: dt.datetime) -> tuple[dt.datetime, dt.date]:
    """The earliest start (minimum notice) and the last local date (maximum days ahead)."""
    earliest = now + dt.timedelta(minutes=service.min_notice_minutes)
    last_day = clock.to_local(now).date() + dt.timedelta(days=service.max_days_ahead)
    return earliest, last_day


def availability(
    *,
    service: Service,
    community_id: int | None,
    date_from: dt.date,
    date_to: dt.date,
    now: dt.datetime | None = None,
    ignore_booking_id: int | None = None,
    resources: list[Resource] | None = None,
    only_start: dt.datetime | None = None,
    day_rules: "DayRules | None" = None,
    plans: dict[int, dict[int, list[TimeRange]]] | None = None,
) -> list[SlotOffer]:
    """Free slots of `service` between two local dates (inclusive), earliest first.

    Past slots, slots inside the minimum notice or beyond the maximum days ahead, full slots and
    days off (holidays, exceptions, no plan) never appear. `ignore_booking_id` leaves one
    booking out, so a booking being rescheduled does not block its own neighbourhood.
    """
    now = now or clock.now()
    earliest, last_day = bookable_window(service=service, now=now)
    first = max(date_from, clock.to_local(earliest).date())
    last = min(date_to, last_day)
    if resources is None:
        resources = resources_for(service=service, community_id=community_id)
    if first > last or not resources:
        return []

    timing = timing_of(service)
    resource_ids = [r.pk for r in resources]
    if day_rules is None and plans is None:
        day_rules, plans = _day_rules_and_plans(resource_ids, first, last)
    if day_rules is not None:
        calendar, exceptions = day_rules  # read already by the caller for this range
    else:
        calendar = _calendar(first, last)
        exceptions = _exceptions(resource_ids, first, last)
    if plans is None:
        plans = _weekly_plans(resource_ids)
    window_from = clock.local_day_start(first)
    window_to = clock.local_day_start(last + dt.timedelta(days=1))

    # Times are compared as POSIX seconds, and the database sends them as integers: parsing
    # thousands of timestamps (or comparing aware datetimes) costs more than everything else.
    # Exclusive resources: busy ranges, sorted, non-overlapping (the guard ensures it).
    busy: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    # Windows: active bookings of this service per resource and start, and how many bookings of
    # every service sharing the window are in progress at each moment (a step profile).
    taken: dict[int, dict[float, int]] = defaultdict(dict)
    steps: dict[int, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if any(r.exclusive for r in resources):
        # Composed only for teams: windows read the slot counters (`_window_counts`).
        active = Booking.objects.filter(active_q(now=now), resource_id__in=resource_ids)
        if ignore_booking_id is not None:
            active = active.exclude(pk=ignore_booking_id)
        ranges = (
            active.filter(exclusive=True, blocked_from__lt=window_to, blocked_until__gt=window_from)
            .order_by("resource_id", "blocked_from")
            .values_list("resource_id", _Epoch("blocked_from"), _Epoch("blocked_until"))
        )
        for resource_id, blocked_from, blocked_until in _rows(ranges):
            froms, untils = busy[resource_id]
            froms.append(blocked_from)
            untils.append(blocked_until)
    if not all(r.exclusive for r in resources):
        window_ids = [r.pk for r in resources if not r.exclusive]
        service_id_asked = service.pk  # a model's pk is a property: not once per row
        for resource_id, service_id, begins, until, n in _window_counts(
            window_ids, window_from, window_to, now=now, ignore_booking_id=ignore_booking_id
        ):
            step = steps[resource_id]
            step[begins] += n
            step[until] -= n
            if service_id == service_id_asked:
                mine = taken[resource_id]
                mine[begins] = mine.get(begins, 0) + n

    before = timing.buffer_before.total_seconds()
    after = (timing.duration + timing.buffer_after).total_seconds()
    earliest_ts = earliest.timestamp()
    duration = timing.duration.total_seconds()
    grid = _Grid(timing)
    # Per start, the places as (-remaining, resource id): sorted, the best resource comes first.
    offers: dict[float, list[tuple[int, int]]] = defaultdict(list)
    moments: dict[float, dt.datetime] = {}
    # Resources with the same plan and exceptions have the same starts: worked out once.
    starts_by_plan: dict[tuple[Any, ...], list[float]] = {}
    for resource in resources:
        resource_id = resource.pk
        weekly = plans.get(resource_id, {})
        day_exceptions = exceptions.get(resource_id)
        if only_start is not None:
            starts: list[float] = []
            for day in _days(first, last):
                periods = periods_for_day(
                    day=day, weekly=weekly, exceptions=day_exceptions, calendar=calendar
                )
                if periods and is_slot_start(starts_at=only_start, periods=periods, timing=timing):
                    starts.append(only_start.timestamp())
                    moments[only_start.timestamp()] = only_start
            starts = [ts for ts in starts if ts >= earliest_ts]
        else:
            key = _plan_key(weekly, day_exceptions)
            found = starts_by_plan.get(key)
            if found is None:
                found = []
                for day in _days(first, last):
                    ranges_today = ranges_for_day(
                        day=day, weekly=weekly, exceptions=day_exceptions, calendar=calendar
                    )
                    if ranges_today:
                        found.extend(grid.starts(day, ranges_today, moments))
                found = starts_by_plan[key] = [ts for ts in found if ts >= earliest_ts]
            starts = found
        if resource.exclusive:
            froms, untils = busy.get(resource_id, ([], []))
            for ts in starts:
                i = bisect_right(untils, ts - before)
                if not (i < len(froms) and froms[i] < ts + after):
                    offers[ts].append((-1, resource_id))
            continue
        capacity = slot_capacity(service=service, resource=resource)
        window_capacity = resource.capacity_per_slot
        mine = taken.get(resource_id, {})
        points, counts = _profile(steps.get(resource_id, {}))
        n_points = len(points)
        for ts in starts:
            remaining = capacity - mine.get(ts, 0)
            if remaining <= 0:
                continue
            # The most bookings in progress at one moment of [ts, ts + duration): the count
            # at ts, or after a later step inside the range (counts are never negative).
            lo = bisect_right(points, ts)
            peak = counts[lo - 1] if lo else 0
            end = ts + duration
            if lo < n_points and points[lo] < end:
                inside = max(counts[lo : bisect_left(points, end, lo)])
                if inside > peak:
                    peak = inside
            if window_capacity - peak < remaining:
                remaining = window_capacity - peak
            if remaining > 0:
                offers[ts].append((-remaining, resource_id))

    result = []
    for ts in sorted(offers):
        places = offers[ts]
        places.sort()
        starts_at = moments.get(ts) or dt.datetime.fromtimestamp(ts, tz=clock.SHANGHAI)
        result.append(
            SlotOffer(
                starts_at=starts_at,
                ends_at=starts_at + timing.duration,
                remaining=-sum([p[0] for p in places]),
                resource_ids=tuple([p[1] for p in places]),
            )
        )
    return result


def _epoch_sql(expression: str) -> str:
    """SQL for the whole POSIX seconds of a datetime column, as `_Epoch` writes them."""
    if connection.vendor == "sqlite":
        return f"CAST((julianday({expression}) - 2440587.5) * 86400.0 + 0.5 AS INTEGER)"
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {expression})) AS bigint)"


def _window_counts(
    resource_ids: list[int],
    window_from: dt.datetime,
    window_to: dt.datetime,
    *,
    now: dt.datetime,
    ignore_booking_id: int | None,
) -> list[tuple[int, int, int, int, int]]:
    """Places taken on windows per resource, service and slot (start and end as POSIX seconds)
    between two moments, from the slot counters (`Slot.booked`), which every booking, release
    and expiry moves in the transaction that changes the booking.

    A counter also counts holds that have run out but are not expired yet, and the booking a
    reschedule leaves out: those come back as rows of -1 for their slot, so the sum per slot is
    exactly its active bookings (`active_q`). One read of a few thousand counter rows instead of
    grouping every booking in the month, which cost PostgreSQL three times as much.
    """
    slots_table = Slot._meta.db_table
    bookings_table = Booking._meta.db_table
    ops = connection.ops
    lo = ops.adapt_datetimefield_value(window_from)
    hi = ops.adapt_datetimefield_value(window_to)
    marks = ", ".join(["%s"] * len(resource_ids))
    left_out = "(b.status = %s AND b.hold_expires_at <= %s)"
    params: list[Any] = [*resource_ids, hi, lo, *resource_ids, hi, lo]
    params += [Booking.Status.HELD, ops.adapt_datetimefield_value(now)]
    if ignore_booking_id is not None:
        left_out += f" OR (b.id = %s AND b.status IN ({', '.join(['%s'] * len(ACTIVE_STATUSES))}))"
        params += [ignore_booking_id, *ACTIVE_STATUSES]
    # Only table names, column expressions and placeholders are formatted in; values are params.
    sql = (
        f"SELECT resource_id, service_id, {_epoch_sql('starts_at')}, {_epoch_sql('ends_at')}, "  # noqa: S608
        f"booked FROM {slots_table} WHERE resource_id IN ({marks}) AND starts_at < %s "
        f"AND ends_at > %s AND booked > 0 "
        f"UNION ALL SELECT s.resource_id, s.service_id, {_epoch_sql('s.starts_at')}, "
        f"{_epoch_sql('s.ends_at')}, -1 FROM {bookings_table} b "
        f"JOIN {slots_table} s ON s.id = b.slot_id WHERE s.resource_id IN ({marks}) "
        f"AND s.starts_at < %s AND s.ends_at > %s AND ({left_out})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _Epoch(Func):
    """Whole POSIX seconds of a datetime column, as an integer (booking times are whole
    minutes: on the slot grid, shifted by whole-minute buffers)."""

    output_field = BigIntegerField()
    template = "CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s)) AS bigint)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # julianday() works on every SQLite Django supports (unixepoch() needs 3.38); it is
        # exact to the millisecond, so rounding gives the whole second.
        template = "CAST((julianday(%(expressions)s) - 2440587.5) * 86400.0 + 0.5 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra)


def _rows(qs: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The rows of a values_list query of plain numbers, straight from the cursor: Django's
    per-row converters cost as much as the database for a few thousand rows."""
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _plan_key(
    weekly: dict[int, list[TimeRange]], exceptions: dict[dt.date, list[TimeRange]] | None
) -> tuple[Any, ...]:
    """What decides a resource's working ranges over a range of days, as a hashable value."""
    plan = tuple((weekday, tuple(ranges)) for weekday, ranges in sorted(weekly.items()))
    if not exceptions:
        return plan, ()
    return plan, tuple((day, tuple(ranges)) for day, ranges in sorted(exceptions.items()))


def _days(first: dt.date, last: dt.date) -> Iterable[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _profile(steps: dict[float, int]) -> tuple[list[float], list[int]]:
    """A window's occupancy as a step function over POSIX seconds: `counts[i]` bookings from
    `points[i]` until `points[i + 1]`, none before `points[0]`."""
    points = sorted(steps)
    counts: list[int] = []
    running = 0
    for point in points:
        running += steps[point]
        counts.append(running)
    return points, counts


class _Grid:
    """Slot starts of one service, as POSIX seconds, for a day's working ranges.

    The starts of a set of ranges are the same offsets from the local midnight on every day,
    so they are worked out once per distinct set of ranges (with the same datetime arithmetic
    as `rules.slot_starts`). A day whose UTC offset changes (daylight saving; none in
    Asia/Shanghai since 1991) is worked out in full instead.
    """

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.offsets: dict[tuple[TimeRange, ...], list[float]] = {}

    def starts(
        self, day: dt.date, ranges: Sequence[TimeRange], moments: dict[float, dt.datetime]
    ) -> list[float]:
        midnight = clock.local_day_start(day)
        key = tuple(ranges)
        if midnight.utcoffset() != local_dt(day, dt.time.max).utcoffset():
            found = []
            for period_start, period_end in periods_of(day, key):
                for moment in _period_starts(period_start, period_end, self.timing):
                    found.append(moment.timestamp())
                    moments[moment.timestamp()] = moment
            return found
        offsets = self.offsets.get(key)
        if offsets is None:
            reference = dt.date(2001, 1, 1)  # any day without a change of UTC offset
            zero = local_dt(reference, dt.time.min)
            offsets = [
                (moment - zero).total_seconds()
                for period_start, period_end in periods_of(reference, key)
                for moment in _period_starts(period_start, period_end, self.timing)
            ]
            self.offsets[key] = offsets
        base = midnight.timestamp()
        return [base + offset for offset in offsets]


def _period_starts(
    period_start: dt.datetime, period_end: dt.datetime, timing: Timing
) -> Iterable[dt.datetime]:
    start = period_start + timing.buffer_before
    while start + timing.duration + timing.buffer_after <= period_end:
        yield start
        start += timing.step


def offers_at(
    *,
    service: Service,
    community_id: int | None,
    starts_at: dt.datetime,
    now: dt.datetime,
    ignore_booking_id: int | None = None,
) -> tuple[list[Resource], SlotOffer | None]:
    """The resources whose plan offers `starts_at`, and the free places there (None if full).

    An empty resource list means the time is not a slot at all (off the grid, a day off)."""
    resources = resources_for(service=service, community_id=community_id)
    day = clock.to_local(starts_at).date()
    on_grid: list[Resource] = []
    calendar: dict[dt.date, DayRule] = {}
    exceptions: dict[int, dict[dt.date, list[TimeRange]]] = {}
    plans: dict[int, dict[int, list[TimeRange]]] = {}
    if resources:
        (calendar, exceptions), plans = _day_rules_and_plans([r.pk for r in resources], day, day)
        timing = timing_of(service)
        for resource in resources:
            periods = periods_for_day(
                day=day,
                weekly=plans.get(resource.pk, {}),
                exceptions=exceptions.get(resource.pk),
                calendar=calendar,
            )
            if is_slot_start(starts_at=starts_at, periods=periods, timing=timing):
                on_grid.append(resource)
    if not on_grid:
        return [], None
    found = availability(
        service=service,
        community_id=community_id,
        date_from=day,
        date_to=day,
        now=now,
        ignore_booking_id=ignore_booking_id,
        resources=on_grid,
        only_start=starts_at,
        day_rules=(calendar, exceptions),
        plans=plans,
    )
    return on_grid, (found[0] if found else None)


# Bookings -------------------------------------------------------------------------------------


def _with_details(qs: QuerySet[Booking]) -> QuerySet[Booking]:
    return qs.select_related(
        "service", "resource", "house__unit__building__community", "technician", "created_by"
    ).prefetch_related(
        Prefetch("events", queryset=BookingEvent.objects.order_by("occurred_at", "id"))
    )


def bookings_for_resident(*, resident: User) -> QuerySet[Booking]:
    return _with_details(Booking.objects.filter(resident=resident)).order_by("-starts_at", "-id")


def booking_get_for_resident(*, resident: User, booking_id: str) -> Booking:
    """The resident's own booking; anyone else's is 'not found', never 'forbidden'."""
    booking = _with_details(Booking.objects.filter(public_id=booking_id, resident=resident)).first()
    if booking is None:
        raise NotFound("未找到该预约。", code="booking_not_found")
    return booking


def booking_get(*, booking_id: str) -> Booking:
    booking = _with_details(Booking.objects.filter(public_id=booking_id)).first()
    if booking is None:
        raise NotFound("未找到该预约。", code="booking_not_found")
    return booking


def booking_get_by_code(*, code: str) -> Booking:
    booking = _with_details(Booking.objects.filter(code=code)).first()
    if booking is None:
        raise NotFound("未找到该预约。", code="booking_not_found")
    return booking


@dataclass(frozen=True)
class ResourceDay:
    resource: Resource
    periods: list[tuple[dt.datetime, dt.datetime]]
    bookings: list[Booking]


def schedule_for_day(*, day: dt.date, resource_code: str | None = None) -> list[ResourceDay]:
    """Each resource's working periods and bookings on one local day (cancelled ones left out)."""
    resources_qs = Resource.objects.filter(is_active=True).prefetch_related(
        Prefetch("working_hours", queryset=WorkingHours.objects.order_by("weekday", "starts"))
    )
    if resource_code:
        resources_qs = resources_qs.filter(code=resource_code)
    resources = list(resources_qs.order_by("code"))
    if resource_code and not resources:
        raise NotFound("未找到该资源。", code="resource_not_found")
    ids = [r.pk for r in resources]
    calendar = _calendar(day, day)
    exceptions = _exceptions(ids, day, day)
    bookings = _with_details(
        Booking.objects.filter(
            resource_id__in=ids,
            starts_at__gte=clock.local_day_start(day),
            starts_at__lt=clock.local_day_start(day + dt.timedelta(days=1)),
        ).exclude(status__in=[Booking.Status.CANCELLED, Booking.Status.EXPIRED])
    ).order_by("starts_at", "id")
    per_resource: dict[int, list[Booking]] = defaultdict(list)
    for booking in bookings:
        per_resource[booking.resource_id].append(booking)
    return [
        ResourceDay(
            resource=resource,
            periods=periods_for_day(
                day=day,
                weekly=_weekly(resource),
                exceptions=exceptions.get(resource.pk),
                calendar=calendar,
            ),
            bookings=per_resource.get(resource.pk, []),
        )
        for resource in resources
    ]


def is_active_status(status: str) -> bool:
    return status in ACTIVE_STATUSES
