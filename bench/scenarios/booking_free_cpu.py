"""CPU per booking beside the one-row insert, in-process: the booking-free counterpart of
`notify_settle_cpu`, a figure a busy machine disturbs much less than bookings per wall second.
Not a registered scenario (nothing here runs on import).

    python -m bench.scenarios.booking_free_cpu [--requests 300] [--rounds 3] [--profile N]

Runs with the bench settings against `DATABASE_URL` (default heatdesk_bench; pass your own
database), which it migrates first (it must exist). It makes its own data, as booking-free's:
one resident with a token and 20 counter services, each on its own window of capacity 1, open
all day in 5-minute slots; every booking asks for a slot nobody asked for before, with its own
Idempotency-Key. It sends `POST /bench/writes` and `POST /api/v1/bookings` through Django's
test client in one thread, reading the CPU time of this process and of its PostgreSQL backend
(/proc/<pid>/stat, same machine). Row-insert CPU ÷ booking CPU estimates the HTTP ratio
without the server's and wrk's share and without the WAL flush (waiting, not CPU).
`--profile N` prints cProfile's top functions (CPU time) over N more bookings instead.
"""

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import secrets
import time
from collections.abc import Callable
from typing import Any

from bench.cpu import cpu_per_call
from bench.seed import residents_create

SERVICES = 20
STARTS_PER_DAY = 287  # 00:00 … 23:50, every 5 minutes (the plan ends at 23:55)


def _environment() -> None:
    from bench import pg
    from bench.run import DEFAULT_DATABASE_URL, bench_env

    target = pg.PgTarget.parse(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    os.environ.update(bench_env(target))


def _resident_token() -> str:
    from django.conf import settings

    from heatdesk.accounts.models import PrivacyConsent
    from heatdesk.accounts.services import token_issue

    (user,) = residents_create([f"139{secrets.randbelow(10**8):08d}"])
    PrivacyConsent.objects.create(
        user=user, version=settings.PRIVACY_POLICY_VERSION, ip="127.0.0.1"
    )
    return token_issue(user=user, client="bench")


def _services(run: int) -> list[str]:
    from django.db import transaction

    from bench.scenarios.booking_data import ALL_DAY, _service, _window

    codes = [f"cpu{run}-{n:02d}" for n in range(SERVICES)]
    with transaction.atomic():
        for code in codes:
            window = _window(f"{code}-w", capacity=1, plan=ALL_DAY)
            _service(code).resources.set([window])
    return codes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="bookings per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="profile this many bookings")
    args = parser.parse_args(argv)
    _environment()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from heatdesk.core import clock

    call_command("migrate", verbosity=0, interactive=False)
    run = secrets.randbelow(10**7)
    codes = _services(run)
    client = Client(headers={"Authorization": f"Bearer {_resident_token()}"})
    first_day = clock.local_day_start(clock.local_today() + dt.timedelta(days=1))

    def book(i: int) -> None:
        slot, service = divmod(i, SERVICES)
        day, start = divmod(slot, STARTS_PER_DAY)
        at = first_day + dt.timedelta(days=day, minutes=5 * start)
        body = json.dumps({"service": codes[service], "starts_at": at.isoformat()})
        answer = client.post(
            "/api/v1/bookings",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": f"cpu-{run}-{i}"},
        )
        if answer.status_code != 201:
            raise SystemExit(f"/api/v1/bookings answered {answer.status_code}: {answer.content!r}")

    def row_insert(i: int) -> None:
        body = f'{{"ext_txn_id":"bk-{run}-{i}","account_id":{i % 1000 + 1},"amount_fen":12345}}'
        answer = client.post("/bench/writes", body, content_type="application/json")
        if answer.status_code != 200:
            raise SystemExit(f"/bench/writes answered {answer.status_code}")

    if args.profile:
        for i in range(50):
            book(i)
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for i in range(50, 50 + args.profile):
            book(i)
        profiler.disable()
        stats: Any = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        return

    def measure(call: Callable[[int], None]) -> tuple[float, float]:
        return cpu_per_call(call, warm=50, rounds=args.rounds, requests=args.requests)

    results = {"row-insert": measure(row_insert), "booking-free": measure(book)}
    for name, (py, pg) in results.items():
        print(f"{name:13s} {py:7.0f} µs Python + {pg:5.0f} µs PostgreSQL = {py + pg:7.0f} µs CPU")
    ratio = sum(results["row-insert"]) / sum(results["booking-free"])
    print(f"RESULT cpu_ratio={ratio:.3f}  (row-insert CPU / booking-free CPU per request)")


if __name__ == "__main__":
    main()
