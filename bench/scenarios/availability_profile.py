"""In-process timing of `selectors.availability` for the `availability` scenario's shape: one
service on 20 windows of capacity 3 (Mon–Sat, 14 half-hour slots a day), 30 days, about a third
of the places booked. It builds that data once in the configured database (its own codes, so it
can share a database with nothing else of the bench), then times N calls and prints the median.

    DJANGO_SETTINGS_MODULE=heatdesk.config.settings_test \\
      DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> \\
      .venv/bin/python -m bench.scenarios.availability_profile --runs 9 [--profile] \\
      [--compare /tmp/old_selectors.py] [--request [--freeze]]

Only the selector is timed (no HTTP, no serialisation of the answer), unless `--request`: then
the whole GET /api/v1/bookings/availability goes through Django's test client as a resident with
a token (middleware, auth, the selector, the answer's schema and JSON; no HTTP server), and
`--profile` profiles that. It also counts the garbage collector's passes per generation during
the timed requests and how long they took: a full (generation 2) pass walks every object the
process loaded, so it is the slow tail. `--freeze` calls `gc.freeze()` first (after a warm-up
request), as a server would after start-up, to compare.
"""

import argparse
import cProfile
import datetime as dt
import gc
import importlib.util
import os
import pstats
import random
import statistics
import time
from pathlib import Path
from typing import Any

CODE = "prof-availability"


def _prepare(first_day: dt.date) -> None:
    from django.db import transaction

    from bench.scenarios.booking_data import AVAILABILITY_DAYS, OFFICE, availability_service
    from heatdesk.accounts.models import User
    from heatdesk.bookings.models import Booking, Slot
    from heatdesk.bookings.rules import periods_for_day, slot_starts
    from heatdesk.bookings.selectors import timing_of

    with transaction.atomic():
        service, windows = availability_service(CODE)
        User.objects.bulk_create([User(username=f"{CODE}-{i}") for i in range(200)])
        residents = list(
            User.objects.filter(username__startswith=f"{CODE}-").values_list("pk", flat=True)
        )
        rng = random.Random(5)  # noqa: S311 - benchmark data, not security
        timing = timing_of(service)
        weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for d, s, e in OFFICE:
            weekly.setdefault(d, []).append((s, e))
        bookings = []
        for n in range(AVAILABILITY_DAYS):
            day = first_day + dt.timedelta(days=n)
            for period in periods_for_day(day=day, weekly=weekly, exceptions=None, calendar={}):
                for starts_at in slot_starts(period=period, timing=timing):
                    for window in windows:
                        booked = rng.choices((0, 1, 2, 3), weights=(45, 25, 20, 10), k=1)[0]
                        if not booked:
                            continue
                        slot = Slot.objects.create(
                            resource=window,
                            service=service,
                            starts_at=starts_at,
                            ends_at=starts_at + timing.duration,
                            capacity=3,
                            booked=booked,
                        )
                        for resident in rng.sample(residents, booked):
                            bookings.append(
                                Booking(
                                    service=service,
                                    resource=window,
                                    slot=slot,
                                    exclusive=False,
                                    resident_id=resident,
                                    created_by_id=resident,
                                    starts_at=starts_at,
                                    ends_at=slot.ends_at,
                                    blocked_from=starts_at,
                                    blocked_until=slot.ends_at,
                                    status=Booking.Status.CONFIRMED,
                                )
                            )
        Booking.objects.bulk_create(bookings, batch_size=2000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile")
    parser.add_argument(
        "--request", action="store_true", help="time the whole API request, not the selector"
    )
    parser.add_argument(
        "--freeze", action="store_true", help="with --request: gc.freeze() before timing"
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="another version of heatdesk/bookings/selectors.py (e.g. from `git show`), timed "
        "in turn with the current one under the same load",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatdesk.config.settings_test")

    import django

    django.setup()
    from django.core.management import call_command

    from heatdesk.bookings import selectors
    from heatdesk.bookings.models import Service
    from heatdesk.core import clock

    call_command("migrate", verbosity=0)
    first_day = clock.local_today() + dt.timedelta(days=1)
    if not Service.objects.filter(code=CODE).exists():
        _prepare(first_day)
    service = Service.objects.get(code=CODE)

    versions: dict[str, Any] = {"current": selectors}
    if args.compare:
        spec = importlib.util.spec_from_file_location("compared_selectors", args.compare)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {args.compare}")
        versions["compared"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(versions["compared"])

    def once(module: Any = selectors) -> list[Any]:
        return list(
            module.availability(
                service=service,
                community_id=None,
                date_from=first_day,
                date_to=first_day + dt.timedelta(days=29),
            )
        )

    if args.request:
        _time_requests(first_day, args.runs, profile=args.profile, freeze=args.freeze)
        return

    answers = {name: once(module) for name, module in versions.items()}  # warm up
    if len({repr(a) for a in answers.values()}) != 1:
        raise SystemExit("the versions give different answers")
    times: dict[str, list[float]] = {name: [] for name in versions}
    for _ in range(args.runs):
        for name, module in versions.items():  # in turn, so both see the same load
            started = time.perf_counter()
            once(module)
            times[name].append((time.perf_counter() - started) * 1000)
    load = os.getloadavg()
    for name, found in times.items():
        print(
            f"availability in-process ({name}): {len(answers[name])} slots, "
            f"median {statistics.median(found):.1f} ms, min {min(found):.1f}, "
            f"max {max(found):.1f} over {args.runs} runs; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            once()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def _time_requests(first_day: dt.date, runs: int, *, profile: bool, freeze: bool) -> None:
    """The whole API request in-process, as a resident with a token: CPU and wall per answer."""
    from django.test import Client

    from heatdesk.accounts.services import token_issue
    from heatdesk.testing import make_resident

    resident = make_resident("13900009999")
    token = token_issue(user=resident)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    last_day = first_day + dt.timedelta(days=29)
    path = (
        f"/api/v1/bookings/availability?service={CODE}"
        f"&date_from={first_day.isoformat()}&date_to={last_day.isoformat()}"
    )

    def get() -> int:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"availability answered {response.status_code}: {response.content!r}")
        return len(response.content)

    size = get()  # warm up
    if freeze:
        gc.collect()
        gc.freeze()
    passes: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            passes[info["generation"]].append((time.perf_counter() - began.pop()) * 1000)

    walls, cpus = [], []
    gc.callbacks.append(watch)
    try:
        for _ in range(runs):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            get()
            cpus.append((time.process_time() - cpu0) * 1000)
            walls.append((time.perf_counter() - wall0) * 1000)
    finally:
        gc.callbacks.remove(watch)
    load = os.getloadavg()
    print(
        f"availability request in-process: {size} bytes, wall median {statistics.median(walls):.1f}"
        f" ms (min {min(walls):.1f}, p99 {_p99(walls):.1f}, max {max(walls):.1f}), this "
        f"process's CPU median "
        f"{statistics.median(cpus):.1f} ms over {runs} runs; load average {load[0]:.2f}"
    )
    for generation, took in passes.items():
        if took:
            print(
                f"   gc generation {generation}{' (frozen heap)' if freeze else ''}: "
                f"{len(took)} passes in {runs} requests, median {statistics.median(took):.2f} "
                f"ms, max {max(took):.1f} ms"
            )
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(5):
            get()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


if __name__ == "__main__":
    main()
