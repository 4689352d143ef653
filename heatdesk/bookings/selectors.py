"""Reads shared by the API, the admin and the services: availability, bookings, schedules.

Availability is computed from a handful of range queries (resources and their plans, the
exceptions and calendar days in range, the active bookings in range) and the pure rules in
`rules.py`, so a month for twenty resources is one short pass in Python. It is a display: the
booking services re-check everything under the database's guard.
"""

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from heatdesk.accounts.models import User
from heatdesk.bookings.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingEvent,
    CalendarDay,
    DayException,
    Resource,
    Service,
    WorkingHours,
)
from heatdesk.bookings.rules import (
    DayRule,
    TimeRange,
    Timing,
    is_slot_start,
    periods_for_day,
)
from heatdesk.core import clock
from heatdesk.core.errors import NotFound

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
    return list(
        qs.order_by("id").prefetch_related(
            Prefetch("working_hours", queryset=WorkingHours.objects.order_by("weekday", "starts"))
        )
    )


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
    if day_rules is not None:
        calendar, exceptions = day_rules  # read already by the caller for this range
    else:
        calendar = _calendar(first, last)
        exceptions = _exceptions(resource_ids, first, last)
    window_from = clock.local_day_start(first)
    window_to = clock.local_day_start(last + dt.timedelta(days=1))

    active = Booking.objects.filter(active_q(now=now), resource_id__in=resource_ids)
    if ignore_booking_id is not None:
        active = active.exclude(pk=ignore_booking_id)
    # Exclusive resources: busy ranges, sorted, non-overlapping (the guard ensures it).
    # Times are compared as POSIX seconds: comparing aware datetimes of different zones in
    # the inner loop costs more than the whole rest of the computation.
    # Exclusive resources: busy ranges, sorted, non-overlapping (the guard ensures it).
    busy: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    # Windows: active bookings of this service per (resource, start), and how many bookings of
    # every service sharing the window are in progress at each moment (a step profile).
    taken: dict[tuple[int, float], int] = defaultdict(int)
    steps: dict[int, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if any(r.exclusive for r in resources):
        ranges = (
            active.filter(exclusive=True, blocked_from__lt=window_to, blocked_until__gt=window_from)
            .order_by("resource_id", "blocked_from")
            .values_list("resource_id", "blocked_from", "blocked_until")
        )
        for resource_id, blocked_from, blocked_until in ranges:
            froms, untils = busy[resource_id]
            froms.append(blocked_from.timestamp())
            untils.append(blocked_until.timestamp())
    if not all(r.exclusive for r in resources):
        groups = (
            active.filter(exclusive=False, starts_at__lt=window_to, ends_at__gt=window_from)
            .values_list("resource_id", "service_id", "starts_at", "ends_at")
            .annotate(n=Count("id"))
            .order_by()
        )
        for resource_id, service_id, starts_at, ends_at, n in groups:
            begins = starts_at.timestamp()
            step = steps[resource_id]
            step[begins] += n
            step[ends_at.timestamp()] -= n
            if service_id == service.pk:
                taken[(resource_id, begins)] += n

    before = timing.buffer_before.total_seconds()
    after = (timing.duration + timing.buffer_after).total_seconds()
    earliest_ts = earliest.timestamp()
    duration = timing.duration.total_seconds()
    plans = [
        (
            resource.pk,
            resource.exclusive,
            slot_capacity(service=service, resource=resource),
            resource.capacity_per_slot,
            _weekly(resource),
            exceptions.get(resource.pk),
            busy.get(resource.pk, ([], [])),
            _Occupancy(steps.get(resource.pk, {})),
        )
        for resource in resources
    ]
    offers: dict[float, list[tuple[int, int]]] = defaultdict(list)
    moments: dict[float, dt.datetime] = {}
    day = first
    while day <= last:
        for (
            resource_id,
            exclusive,
            capacity,
            window_capacity,
            weekly,
            day_exceptions,
            (froms, untils),
            window,
        ) in plans:
            periods = periods_for_day(
                day=day, weekly=weekly, exceptions=day_exceptions, calendar=calendar
            )
            if not periods:
                continue
            for starts_at in _starts(periods, timing, only_start):
                ts = starts_at.timestamp()
                if ts < earliest_ts:
                    continue
                if exclusive:
                    i = bisect_right(untils, ts - before)
                    remaining = 0 if i < len(froms) and froms[i] < ts + after else 1
                else:
                    remaining = min(
                        capacity - taken.get((resource_id, ts), 0),
                        window_capacity - window.peak(ts, ts + duration),
                    )
                if remaining > 0:
                    offers[ts].append((remaining, resource_id))
                    moments[ts] = starts_at
        day += dt.timedelta(days=1)

    result = []
    for ts in sorted(offers):
        places = sorted(offers[ts], key=lambda p: (-p[0], p[1]))
        starts_at = moments[ts]
        result.append(
            SlotOffer(
                starts_at=starts_at,
                ends_at=starts_at + timing.duration,
                remaining=sum(p[0] for p in places),
                resource_ids=tuple(p[1] for p in places),
            )
        )
    return result


class _Occupancy:
    """How many bookings a window serves at each moment, as a step function over POSIX seconds:
    `counts[i]` bookings from `points[i]` until `points[i + 1]`, none before `points[0]`."""

    def __init__(self, steps: dict[float, int]) -> None:
        self.points = sorted(steps)
        self.counts: list[int] = []
        running = 0
        for point in self.points:
            running += steps[point]
            self.counts.append(running)

    def peak(self, start: float, end: float) -> int:
        """The most bookings in progress at one moment of [start, end)."""
        first = bisect_right(self.points, start) - 1
        last = bisect_left(self.points, end)
        if last <= max(first, 0):
            return self.counts[first] if first >= 0 else 0
        return max(self.counts[max(first, 0) : last])


def _starts(
    periods: list[tuple[dt.datetime, dt.datetime]], timing: Timing, only: dt.datetime | None
) -> Iterable[dt.datetime]:
    if only is not None:
        return [only] if is_slot_start(starts_at=only, periods=periods, timing=timing) else []
    starts: list[dt.datetime] = []
    for period_start, period_end in periods:
        start = period_start + timing.buffer_before
        while start + timing.duration + timing.buffer_after <= period_end:
            starts.append(start)
            start += timing.step
    return starts


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
    if resources:
        calendar = _calendar(day, day)
        exceptions = _exceptions([r.pk for r in resources], day, day)
        timing = timing_of(service)
        for resource in resources:
            periods = periods_for_day(
                day=day,
                weekly=_weekly(resource),
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
