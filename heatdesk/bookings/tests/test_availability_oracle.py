"""The availability engine gives the same answer as the straightforward algorithm it replaced
(kept below as the oracle): per-slot aware datetimes, a step-profile object per window, model
rows read through the ORM. The fixture mixes what changes an answer: holidays, make-up days,
closed days and changed hours, teams with travel buffers, a window shared by two services of
different lengths, the minimum notice, confirmed bookings, live and run-out holds, cancellations,
and a booking left out for a reschedule."""

import datetime as dt
import random
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable

import pytest

from heatdesk.bookings import selectors, services
from heatdesk.bookings.models import Booking, CalendarDay, DayException
from heatdesk.bookings.rules import is_slot_start, periods_for_day
from heatdesk.bookings.selectors import (
    SlotOffer,
    _calendar,
    _exceptions,
    _weekly,
    active_q,
    bookable_window,
    resources_for,
    slot_capacity,
    timing_of,
)
from heatdesk.bookings.tests.conftest import NOW
from heatdesk.bookings.tests.factories import (
    community_of,
    make_counter_service,
    make_team,
    make_visit_service,
    make_window,
    plain_users,
    set_plan,
)
from heatdesk.core import clock as heat_clock
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import ApplicationError

pytestmark = pytest.mark.django_db

FIRST = dt.date(2026, 11, 30)
LAST = dt.date(2026, 12, 13)


# The oracle: the engine as it was before it worked on integer seconds and day templates. -----


def oracle_availability(
    *,
    service,
    community_id,
    date_from,
    date_to,
    now=None,
    ignore_booking_id=None,
    resources=None,
    only_start=None,
):
    now = now or heat_clock.now()
    earliest, last_day = bookable_window(service=service, now=now)
    first = max(date_from, heat_clock.to_local(earliest).date())
    last = min(date_to, last_day)
    if resources is None:
        resources = resources_for(service=service, community_id=community_id)
    if first > last or not resources:
        return []
    timing = timing_of(service)
    resource_ids = [r.pk for r in resources]
    calendar = _calendar(first, last)
    exceptions = _exceptions(resource_ids, first, last)
    window_from = heat_clock.local_day_start(first)
    window_to = heat_clock.local_day_start(last + dt.timedelta(days=1))
    active = Booking.objects.filter(active_q(now=now), resource_id__in=resource_ids)
    if ignore_booking_id is not None:
        active = active.exclude(pk=ignore_booking_id)
    busy = defaultdict(lambda: ([], []))
    taken = defaultdict(int)
    steps = defaultdict(lambda: defaultdict(int))
    for row in active.filter(
        exclusive=True, blocked_from__lt=window_to, blocked_until__gt=window_from
    ).order_by("resource_id", "blocked_from"):
        froms, untils = busy[row.resource_id]
        froms.append(row.blocked_from.timestamp())
        untils.append(row.blocked_until.timestamp())
    for row in active.filter(exclusive=False, starts_at__lt=window_to, ends_at__gt=window_from):
        begins = row.starts_at.timestamp()
        steps[row.resource_id][begins] += 1
        steps[row.resource_id][row.ends_at.timestamp()] -= 1
        if row.service_id == service.pk:
            taken[(row.resource_id, begins)] += 1
    before = timing.buffer_before.total_seconds()
    after = (timing.duration + timing.buffer_after).total_seconds()
    duration = timing.duration.total_seconds()
    offers = defaultdict(list)
    moments = {}
    day = first
    while day <= last:
        for resource in resources:
            periods = periods_for_day(
                day=day,
                weekly=_weekly(resource),
                exceptions=exceptions.get(resource.pk),
                calendar=calendar,
            )
            if not periods:
                continue
            window = _OracleOccupancy(steps.get(resource.pk, {}))
            froms, untils = busy.get(resource.pk, ([], []))
            for starts_at in _oracle_starts(periods, timing, only_start):
                ts = starts_at.timestamp()
                if starts_at < earliest:
                    continue
                if resource.exclusive:
                    i = bisect_right(untils, ts - before)
                    remaining = 0 if i < len(froms) and froms[i] < ts + after else 1
                else:
                    remaining = min(
                        slot_capacity(service=service, resource=resource)
                        - taken.get((resource.pk, ts), 0),
                        resource.capacity_per_slot - window.peak(ts, ts + duration),
                    )
                if remaining > 0:
                    offers[ts].append((remaining, resource.pk))
                    moments[ts] = starts_at
        day += dt.timedelta(days=1)
    result = []
    for ts in sorted(offers):
        places = sorted(offers[ts], key=lambda p: (-p[0], p[1]))
        result.append(
            SlotOffer(
                starts_at=moments[ts],
                ends_at=moments[ts] + timing.duration,
                remaining=sum(p[0] for p in places),
                resource_ids=tuple(p[1] for p in places),
            )
        )
    return result


class _OracleOccupancy:
    def __init__(self, steps):
        self.points = sorted(steps)
        self.counts = []
        running = 0
        for point in self.points:
            running += steps[point]
            self.counts.append(running)

    def peak(self, start, end):
        first = bisect_right(self.points, start) - 1
        last = bisect_left(self.points, end)
        if last <= max(first, 0):
            return self.counts[first] if first >= 0 else 0
        return max(self.counts[max(first, 0) : last])


def _oracle_starts(periods, timing, only) -> Iterable[dt.datetime]:
    if only is not None:
        return [only] if is_slot_start(starts_at=only, periods=periods, timing=timing) else []
    found = []
    for period_start, period_end in periods:
        start = period_start + timing.buffer_before
        while start + timing.duration + timing.buffer_after <= period_end:
            found.append(start)
            start += timing.step
    return found


# The fixture ---------------------------------------------------------------------------------


@pytest.fixture
def city(clock, home, team):
    """Two teams and a repair service with travel buffers; a window shared by a 30-minute and a
    20-minute service; a calendar with a holiday and a make-up Sunday; exceptions; and bookings
    of every kind spread over two weeks."""
    community = community_of(home)
    evening = set_plan(
        make_team(community),
        weekdays=(0, 1, 2, 3, 4, 5),
        periods=(
            (dt.time(8, 0), dt.time(11, 0)),
            (dt.time(10, 30), dt.time(12, 0)),  # overlaps the morning: duplicate starts
            (dt.time(18, 0), dt.time(21, 15)),
        ),
    )
    repair = make_visit_service(
        team, evening, code="repair-oracle", max_days_ahead=12, max_active_per_house=None
    )
    window = make_window(capacity=3)
    second = set_plan(make_window(capacity=2), weekdays=(0, 2, 4, 5))
    long = make_counter_service(
        window, second, code="counter-long", capacity_per_slot=2, max_days_ahead=14
    )
    short = make_counter_service(
        window,
        code="counter-short",
        duration_minutes=20,
        slot_interval_minutes=10,
        buffer_before_minutes=10,
        capacity_per_slot=3,
        max_days_ahead=14,
        min_notice_minutes=45,
    )
    CalendarDay.objects.create(date=dt.date(2026, 12, 2), kind="holiday", name="假日")
    CalendarDay.objects.create(
        date=dt.date(2026, 12, 6), kind="workday", name="调休", works_as_weekday=4
    )
    DayException.objects.create(resource=team, date=dt.date(2026, 12, 3), is_closed=True)
    DayException.objects.create(
        resource=evening,
        date=dt.date(2026, 12, 2),  # works on the holiday: the exception wins
        is_closed=False,
        starts=dt.time(9, 0),
        ends=dt.time(12, 0),
    )
    for starts, ends in ((dt.time(7, 0), dt.time(9, 0)), (dt.time(15, 0), dt.time(19, 40))):
        DayException.objects.create(
            resource=window, date=dt.date(2026, 12, 4), is_closed=False, starts=starts, ends=ends
        )
    users = plain_users(40)
    rng = random.Random(18)
    made: list[Booking] = []
    for service in (repair, long, short, long, short, short):
        offers = selectors.availability(
            service=service,
            community_id=community.pk if service is repair else None,
            date_from=FIRST,
            date_to=LAST,
        )
        for offer in rng.sample(offers, min(len(offers), 35)):
            user = rng.choice(users)
            try:
                booking, _ = services.booking_create(
                    service=service,
                    starts_at=offer.starts_at,
                    created_by=user,
                    resident=user,
                    house=home if service is repair else None,
                    hold=rng.random() < 0.2,
                    resource_id=rng.choice(offer.resource_ids),
                )
            except ApplicationError:
                continue  # the resident already holds that slot: fine, the next one
            made.append(booking)
    for booking in rng.sample(made, 10):
        services.booking_cancel(booking=booking, actor=booking.created_by, reason="oracle")
    return {"community": community, "services": (repair, long, short), "made": made}


def answers(service, community_id, **kwargs):
    new = selectors.availability(service=service, community_id=community_id, **kwargs)
    old = oracle_availability(service=service, community_id=community_id, **kwargs)
    return new, old


def assert_same(new, old):
    assert new == old
    # the same local representation too, not just the same instants
    assert [o.starts_at.isoformat() for o in new] == [o.starts_at.isoformat() for o in old]
    assert [o.ends_at.isoformat() for o in new] == [o.ends_at.isoformat() for o in old]


@pytest.mark.parametrize(
    "now",
    [NOW, NOW + dt.timedelta(hours=3, minutes=17), NOW + dt.timedelta(days=2, hours=10)],
)
def test_availability_matches_the_oracle_over_two_weeks(city, clock, now):
    community_id = city["community"].pk
    assert Booking.objects.filter(status=Booking.Status.HELD).exists()
    assert Booking.objects.filter(status=Booking.Status.CANCELLED).count() == 10
    before = Booking.objects.count()
    for service in city["services"]:
        new, old = answers(service, community_id, date_from=FIRST, date_to=LAST, now=now)
        assert_same(new, old)
        # the fixture bites: some places are taken, some slots are gone
        assert new
        most = max(o.remaining for o in new)
        assert any(o.remaining < most for o in new)
    # a reading writes nothing
    assert Booking.objects.count() == before


def test_availability_matches_the_oracle_once_the_holds_ran_out(city, clock):
    clock.shift(dt.timedelta(minutes=30))
    now = heat_clock.now()
    assert Booking.objects.filter(status=Booking.Status.HELD, hold_expires_at__lt=now).exists()
    for service in city["services"]:
        new, old = answers(service, city["community"].pk, date_from=FIRST, date_to=LAST)
        assert_same(new, old)


def test_availability_matches_the_oracle_leaving_out_a_booking(city, clock):
    active = [b for b in city["made"] if b.status != Booking.Status.CANCELLED]
    for booking in active[:: max(len(active) // 8, 1)]:
        booking.refresh_from_db()
        new, old = answers(
            booking.service,
            city["community"].pk,
            date_from=FIRST,
            date_to=LAST,
            ignore_booking_id=booking.pk,
        )
        assert_same(new, old)


def test_one_start_matches_the_oracle(city, clock):
    community_id = city["community"].pk
    checked = 0
    for service in city["services"]:
        resources = resources_for(
            service=service, community_id=community_id if service.requires_house else None
        )
        for day in (dt.date(2026, 12, 1), dt.date(2026, 12, 4), dt.date(2026, 12, 6)):
            for minute in range(7 * 60, 21 * 60, 10):
                start = heat_clock.local_day_start(day) + dt.timedelta(minutes=minute)
                new, old = answers(
                    service,
                    community_id,
                    date_from=day,
                    date_to=day,
                    resources=resources,
                    only_start=start,
                )
                assert_same(new, old)
                checked += bool(new)
    assert checked > 50


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        # Asia/Shanghai kept summer time in 1986–1991: the days it began and ended have 23 and
        # 25 hours, so their starts are not the template's offsets from midnight.
        (
            dt.datetime(1988, 4, 14, 8, 0, tzinfo=SHANGHAI),
            dt.date(1988, 4, 15),
            dt.date(1988, 4, 19),
        ),
        (dt.datetime(1988, 9, 8, 8, 0, tzinfo=SHANGHAI), dt.date(1988, 9, 9), dt.date(1988, 9, 13)),
    ],
)
def test_days_that_change_their_utc_offset_match_the_oracle(db, now, first, last):
    window = set_plan(
        make_window(capacity=2),
        weekdays=(0, 1, 2, 3, 4, 5, 6),
        periods=((dt.time(0, 30), dt.time(4, 0)), (dt.time(22, 0), dt.time(23, 50))),
    )
    service = make_counter_service(window, duration_minutes=30, slot_interval_minutes=20)
    user = plain_users(1)[0]
    sunday = next(
        o
        for o in selectors.availability(
            service=service, community_id=None, date_from=first, date_to=last, now=now
        )
        if o.starts_at.date().weekday() == 6 and o.starts_at.hour >= 1
    )
    services.booking_create(
        service=service, starts_at=sunday.starts_at, created_by=user, resident=user, now=now
    )
    new, old = answers(service, None, date_from=first, date_to=last, now=now)
    assert_same(new, old)
    assert Booking.objects.filter(service=service).count() == 1
    assert len(new) > 5 * 14
