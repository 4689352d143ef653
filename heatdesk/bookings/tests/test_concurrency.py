"""Real races: several processes, each with its own database connection, book at once.

On PostgreSQL the processes share pytest's test database. SQLite's test database is in memory
and cannot be shared, so for these tests `shared_database` copies it into a file (sqlite3's
backup API) and points the default connection at that file; the child processes, forked after
the parent closed its connection, open their own connections to it (WAL, IMMEDIATE
transactions, as in production).

Every attempt first passes the friendly availability check outside the transaction and then
sleeps RACE_WINDOW_SECONDS, so many attempts are in flight with the same stale picture; the
database alone then decides. The control test switches the guard off and must see overbooking.
"""

import datetime as dt
import multiprocessing
from collections import Counter
from typing import Any

import pytest
from django.db import connections

from heatdesk.bookings import capacity, selectors, services
from heatdesk.bookings.models import Booking, Resource, Service, Slot
from heatdesk.bookings.tests.factories import (
    make_counter_service,
    make_team,
    make_visit_service,
    make_window,
    plain_users,
    set_plan,
)
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError
from heatdesk.testing import make_house

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

PROCESSES = 8
ATTEMPTS_PER_PROCESS = 25  # 200 attempts in all
RACE_WINDOW = 0.05
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)


def _attempt_all(
    jobs: list[dict[str, Any]],
    guard: bool,
    window_guard: bool,
    barrier: Any,
    results: Any,
    index: int,
) -> None:
    """One process: wait for the others, then try every job in turn on its own connection."""
    capacity.RACE_GUARD = guard
    capacity.WINDOW_GUARD = window_guard
    capacity.RACE_WINDOW_SECONDS = RACE_WINDOW
    outcomes: list[str] = []
    try:
        from heatdesk.accounts.models import User
        from heatdesk.estates.models import House

        barrier.wait(timeout=60)
        for job in jobs:
            try:
                user = User.objects.get(pk=job["user_id"])
                services.booking_create(
                    service=Service.objects.get(pk=job["service_id"]),
                    starts_at=job["starts_at"],
                    created_by=user,
                    resident=user,
                    house=House.objects.get(pk=job["house_id"]) if job["house_id"] else None,
                )
                outcomes.append("ok")
            except ApplicationError as exc:
                outcomes.append(exc.code)
            except Exception as exc:  # noqa: BLE001 - any other outcome is a failure to report
                outcomes.append(f"error:{type(exc).__name__}:{exc}")
    finally:
        connections.close_all()
        results.put((index, outcomes))


def race(
    jobs: list[dict[str, Any]], *, guard: bool = True, window_guard: bool | None = None
) -> Counter[str]:
    """Run the jobs split over PROCESSES forked processes, all starting together. `guard=False`
    switches every capacity guard off; `window_guard=False` only the shared-window one."""
    if window_guard is None:
        window_guard = guard
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    connections.close_all()  # children must not share the parent's connection
    chunks = [jobs[i::PROCESSES] for i in range(PROCESSES)]
    workers = [
        context.Process(
            target=_attempt_all,
            args=(chunk, guard, window_guard, barrier, results, i),
        )
        for i, chunk in enumerate(chunks)
    ]
    for worker in workers:
        worker.start()
    outcomes: Counter[str] = Counter()
    for _ in workers:
        _, got = results.get(timeout=120)
        outcomes.update(got)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return outcomes


def first_start(service: Service, *, community_id: int | None, hhmm: str) -> dt.datetime:
    """The slot at hh:mm two days from now (real time: children do not share a fake clock)."""
    day = clock.local_today() + dt.timedelta(days=2)
    wanted = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=clock.SHANGHAI)
    offered = [
        o.starts_at
        for o in selectors.availability(
            service=service, community_id=community_id, date_from=day, date_to=day
        )
    ]
    assert wanted in offered
    return wanted


def window_race_setup() -> tuple[Service, Resource, dt.datetime, list[int]]:
    window = set_plan(make_window(capacity=10), weekdays=EVERY_DAY)
    service = make_counter_service(window, capacity_per_slot=10)
    starts_at = first_start(service, community_id=None, hhmm="10:00")
    users = plain_users(PROCESSES * ATTEMPTS_PER_PROCESS)
    return service, window, starts_at, [u.pk for u in users]


def test_200_concurrent_attempts_on_a_slot_of_ten_give_exactly_ten_bookings(shared_database):
    # given a window slot of capacity 10 and 200 residents
    service, window, starts_at, user_ids = window_race_setup()
    jobs = [
        {"service_id": service.pk, "starts_at": starts_at, "user_id": uid, "house_id": None}
        for uid in user_ids
    ]
    # when they all try at once from 8 processes
    outcomes = race(jobs)
    # then exactly ten won; every loser was told the slot was just taken; nothing else happened
    assert sum(outcomes.values()) == 200
    assert outcomes["ok"] == 10, outcomes
    assert outcomes["slot_taken"] == 190, outcomes
    slot = Slot.objects.get(resource=window, service=service, starts_at=starts_at)
    assert slot.booked == 10
    assert Booking.objects.filter(slot=slot, status="confirmed").count() == 10
    assert Booking.objects.count() == 10


def test_control_without_the_guard_the_same_race_overbooks(shared_database):
    # the same race with the counter guard switched off: the check-then-insert loses
    service, window, starts_at, user_ids = window_race_setup()
    jobs = [
        {"service_id": service.pk, "starts_at": starts_at, "user_id": uid, "house_id": None}
        for uid in user_ids
    ]
    outcomes = race(jobs, guard=False)
    assert outcomes["ok"] > 10, outcomes
    assert Booking.objects.filter(starts_at=starts_at, status="confirmed").count() > 10


def test_concurrent_overlapping_visits_for_one_team_give_one_visit(shared_database):
    # given one team serving the community, and 200 requests for four overlapping visits
    house = make_house()
    team = set_plan(make_team(house.unit.building.community), weekdays=EVERY_DAY)
    service = make_visit_service(team, max_active_per_house=None)
    community_id = house.unit.building.community_id
    starts = [
        first_start(service, community_id=community_id, hhmm=hhmm)
        for hhmm in ("09:00", "09:30", "10:00", "10:30")
    ]
    users = plain_users(PROCESSES * ATTEMPTS_PER_PROCESS)
    jobs = [
        {
            "service_id": service.pk,
            "starts_at": starts[n % len(starts)],
            "user_id": user.pk,
            "house_id": house.pk,
        }
        for n, user in enumerate(users)
    ]
    # when
    outcomes = race(jobs)
    # then the team is in one place at a time: one visit, 199 clear refusals
    assert outcomes["ok"] == 1, outcomes
    assert outcomes["slot_taken"] == 199, outcomes
    active = list(Booking.objects.filter(resource=team, status="confirmed"))
    assert len(active) == 1
    assert active[0].starts_at in starts


def shared_window_jobs() -> tuple[Resource, list[Service], dt.datetime, list[dict[str, Any]]]:
    """A window of capacity 10 shared by two services that each allow 10 per slot, and 200
    attempts at one time, alternating between the services."""
    window = set_plan(make_window(capacity=10), weekdays=EVERY_DAY)
    both = [make_counter_service(window, capacity_per_slot=10) for _ in range(2)]
    starts_at = first_start(both[0], community_id=None, hhmm="10:00")
    users = plain_users(PROCESSES * ATTEMPTS_PER_PROCESS)
    jobs = [
        {"service_id": both[n % 2].pk, "starts_at": starts_at, "user_id": u.pk, "house_id": None}
        for n, u in enumerate(users)
    ]
    return window, both, starts_at, jobs


def test_200_concurrent_attempts_on_a_shared_window_of_ten_give_exactly_ten(shared_database):
    # given
    window, both, starts_at, jobs = shared_window_jobs()
    # when
    outcomes = race(jobs)
    # then the window holds ten across both services, and the slot counters agree
    assert outcomes["ok"] == 10, outcomes
    assert outcomes["slot_taken"] == 190, outcomes
    active = Booking.objects.filter(resource=window, status="confirmed", starts_at=starts_at)
    assert active.count() == 10
    counters = Slot.objects.filter(resource=window, starts_at=starts_at)
    assert sum(s.booked for s in counters) == 10
    for slot in counters:
        assert slot.booked == active.filter(service=slot.service).count()


def test_control_without_the_window_guard_services_overfill_a_shared_window(shared_database):
    # each service's own counter still holds (at most 10 each), but together they pass 10
    window, both, starts_at, jobs = shared_window_jobs()
    outcomes = race(jobs, window_guard=False)
    assert outcomes["ok"] > 10, outcomes
    active = Booking.objects.filter(resource=window, status="confirmed", starts_at=starts_at)
    assert active.count() > 10
    for service in both:
        assert active.filter(service=service).count() <= 10
