"""Data of the booking scenarios (booking-free, booking-contention, availability), run in the
bench environment by bench.run:

    python -m bench.scenarios.booking_data prepare --workdir DIR
    python -m bench.scenarios.booking_data verify --workdir DIR

`prepare` (idempotent: the three scenarios share it) creates

* booking-free: 20 counter services, each on its own window of capacity 1, open every day
  00:00–23:55 in 5-minute slots, 120 days ahead: every request books a slot nobody else asks for;
* booking-contention: one counter service on one window of capacity 4, the same grid: the load
  sends 16 attempts at every slot, in order, so all clients fight for the same slot at a time;
* availability: one service on 20 windows of capacity 3 (Mon–Sat 08:30–12:00, 13:30–17:30,
  30-minute slots), with about one booking in three places already taken for the next 30 days;

and writes `booking.json` (codes, first day, the UTC epoch of its local midnight) for the Lua
scripts. `verify` checks the database after a load: every slot counter equals its active
bookings and never passes its capacity, no window serves more than its capacity at one start,
and no team is in two places at once. It prints one `VERIFY ok …` or `VERIFY FAIL …` line.

Django is imported inside the functions: the scenario registry imports this module too.
"""

import argparse
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

FREE_SERVICES = 20
FREE_DAYS = 120
CONTENTION_CAPACITY = 4
ATTEMPTS_PER_SLOT = 16
AVAILABILITY_RESOURCES = 20
AVAILABILITY_DAYS = 30
STARTS_PER_DAY = 287  # 00:00 … 23:50, every 5 minutes
DATA_FILE = "booking.json"


def free_code(n: int) -> str:
    return f"bench-free-{n:02d}"


CONTENTION = "bench-contention"
AVAILABILITY = "bench-availability"


def _service(code: str, **fields: Any) -> Any:
    from heatdesk.bookings.models import Service

    values: dict[str, Any] = {
        "name": "营业厅业务办理（压测）",
        "kind": Service.Kind.COUNTER,
        "duration_minutes": 5,
        "slot_interval_minutes": 5,
        "capacity_per_slot": 1,
        "min_notice_minutes": 0,
        "max_days_ahead": FREE_DAYS,
        "requires_house": False,
        "max_active_per_house": None,
        "reminder_hours_before": 0,
    }
    values.update(fields)
    return Service.objects.create(code=code, **values)


def _window(code: str, *, capacity: int, plan: list[tuple[int, dt.time, dt.time]]) -> Any:
    from heatdesk.bookings.models import Resource, WorkingHours

    window = Resource.objects.create(
        code=code,
        name=code,
        kind=Resource.Kind.WINDOW,
        capacity_per_slot=capacity,
        location="客服中心",
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(resource=window, weekday=d, starts=s, ends=e) for d, s, e in plan
    )
    return window


ALL_DAY = [(d, dt.time(0, 0), dt.time(23, 55)) for d in range(7)]
OFFICE = [
    (d, s, e)
    for d in range(6)
    for s, e in ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))
]


def availability_service(code: str) -> tuple[Any, list[Any]]:
    """The availability scenario's service and its windows: 20 windows of capacity 3 open in
    office hours, half-hour slots, bookable from 2 hours ahead for the measured 30 days."""
    windows = [
        _window(f"{code}-w{n:02d}", capacity=3, plan=OFFICE) for n in range(AVAILABILITY_RESOURCES)
    ]
    service = _service(
        code,
        duration_minutes=30,
        slot_interval_minutes=30,
        capacity_per_slot=3,
        min_notice_minutes=120,
        max_days_ahead=AVAILABILITY_DAYS + 1,
    )
    service.resources.set(windows)
    return service, windows


def prepare(workdir: Path) -> str:
    from django.db import transaction

    from heatdesk.bookings.models import Service
    from heatdesk.core import clock

    first_day = clock.local_today() + dt.timedelta(days=1)
    data = {
        "free_services": FREE_SERVICES,
        "free_days": FREE_DAYS,
        "starts_per_day": STARTS_PER_DAY,
        "contention": CONTENTION,
        "attempts_per_slot": ATTEMPTS_PER_SLOT,
        "availability": AVAILABILITY,
        "first_day": first_day.isoformat(),
        "last_day": (first_day + dt.timedelta(days=AVAILABILITY_DAYS - 1)).isoformat(),
        "first_epoch": int(clock.local_day_start(first_day).timestamp()),
    }
    (workdir / DATA_FILE).write_text(json.dumps(data))
    if Service.objects.filter(code=CONTENTION).exists():
        return "already prepared"
    with transaction.atomic():
        for n in range(FREE_SERVICES):
            window = _window(f"{free_code(n)}-w", capacity=1, plan=ALL_DAY)
            _service(free_code(n)).resources.set([window])
        window = _window(f"{CONTENTION}-w", capacity=CONTENTION_CAPACITY, plan=ALL_DAY)
        _service(CONTENTION, capacity_per_slot=CONTENTION_CAPACITY).resources.set([window])
        service, windows = availability_service(AVAILABILITY)
        taken = _book_a_third(service, windows, first_day)
    resources = FREE_SERVICES + 1 + len(windows)
    return f"{FREE_SERVICES + 2} services, {resources} windows, {taken} bookings"


def _book_a_third(service: Any, windows: list[Any], first_day: dt.date) -> int:
    """About one place in three of the availability service's next 30 days, as real rows: a
    slot counter and its confirmed bookings (by seeded residents)."""
    from heatdesk.accounts.models import ApiToken
    from heatdesk.bookings.models import Booking, Slot
    from heatdesk.bookings.rules import periods_for_day, slot_starts
    from heatdesk.bookings.selectors import timing_of

    rng = random.Random(5)  # noqa: S311 - benchmark data, not security
    residents = list(ApiToken.objects.values_list("user_id", flat=True).distinct()[:2000])
    timing = timing_of(service)
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for d, s, e in OFFICE:
        weekly.setdefault(d, []).append((s, e))
    slots: list[Slot] = []
    counts: list[int] = []
    for n in range(AVAILABILITY_DAYS):
        day = first_day + dt.timedelta(days=n)
        for period in periods_for_day(day=day, weekly=weekly, exceptions=None, calendar={}):
            for starts_at in slot_starts(period=period, timing=timing):
                for window in windows:
                    booked = rng.choices((0, 1, 2, 3), weights=(45, 25, 20, 10), k=1)[0]
                    if booked:
                        slots.append(
                            Slot(
                                resource=window,
                                service=service,
                                starts_at=starts_at,
                                ends_at=starts_at + timing.duration,
                                capacity=3,
                                booked=booked,
                            )
                        )
                        counts.append(booked)
    slots = Slot.objects.bulk_create(slots, batch_size=2000)
    bookings = []
    for slot, booked in zip(slots, counts, strict=True):
        for resident in rng.sample(residents, booked):
            bookings.append(
                Booking(
                    service=service,
                    resource=slot.resource,
                    slot=slot,
                    exclusive=False,
                    resident_id=resident,
                    created_by_id=resident,
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    blocked_from=slot.starts_at,
                    blocked_until=slot.ends_at,
                    status=Booking.Status.CONFIRMED,
                )
            )
    Booking.objects.bulk_create(bookings, batch_size=2000)
    return len(bookings)


def load_data(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / DATA_FILE).read_text())
    return data


def slot_utc(data: dict[str, Any], index: int) -> str:
    """The UTC start of the `index`-th 5-minute slot of the all-day grid (as the Lua does)."""
    day, k = divmod(index, data["starts_per_day"])
    moment = dt.datetime.fromtimestamp(data["first_epoch"] + day * 86400 + k * 300, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:00+00:00")


def call(
    method: str, url: str, *, token: str, body: dict[str, Any] | None = None, key: str = ""
) -> tuple[int, Any]:
    """One JSON request to the bench server (127.0.0.1 only): the status and the JSON answer."""
    import urllib.error
    import urllib.request

    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("bench traffic stays on 127.0.0.1")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def verify() -> str:
    """Counters equal their active bookings and stay within capacity; windows and teams hold."""
    from django.db.models import Count, F, Q

    from heatdesk.bookings.models import ACTIVE_STATUSES, Booking, Resource, Slot

    active = Q(bookings__status__in=ACTIVE_STATUSES)
    slots = Slot.objects.annotate(n=Count("bookings", filter=active))
    drifted = slots.exclude(booked=F("n")).count()
    over = Slot.objects.filter(booked__gt=F("capacity")).count()
    live = Booking.objects.filter(status__in=ACTIVE_STATUSES)
    window_capacity = dict(
        Resource.objects.filter(kind=Resource.Kind.WINDOW).values_list("pk", "capacity_per_slot")
    )
    per_window = (
        live.filter(exclusive=False)
        .values_list("resource_id", "starts_at")
        .annotate(n=Count("id"))
        .order_by()
    )
    windows_over = sum(1 for rid, _, n in per_window if n > window_capacity.get(rid, 0))
    overlaps = 0
    ranges = live.filter(exclusive=True).order_by("resource_id", "blocked_from")
    last: tuple[int, dt.datetime] | None = None
    for rid, blocked_from, blocked_until in ranges.values_list(
        "resource_id", "blocked_from", "blocked_until"
    ):
        if last is not None and last[0] == rid and blocked_from < last[1]:
            overlaps += 1
        last = (rid, blocked_until)
    free = live.filter(service__code__startswith="bench-free-").count()
    contended = Slot.objects.filter(service__code=CONTENTION)
    full = contended.filter(booked=F("capacity")).count()
    figures = (
        f"slots={Slot.objects.count()} active_bookings={live.count()} free_bookings={free} "
        f"contention_slots={contended.count()} contention_full={full} "
        f"counter_drift={drifted} slots_over={over} windows_over={windows_over} "
        f"team_overlaps={overlaps}"
    )
    ok = not (drifted or over or windows_over or overlaps)
    return ("ok " if ok else "FAIL ") + figures


def main(argv: list[str] | None = None) -> None:
    import django

    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.booking_data")
    parser.add_argument("action", choices=("prepare", "verify"))
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    django.setup()
    if args.action == "prepare":
        print(f"PREPARED {prepare(args.workdir)}")  # noqa: T201 - read by bench.run
    else:
        print(f"VERIFY {verify()}")  # noqa: T201 - read by bench.run


if __name__ == "__main__":
    main()
