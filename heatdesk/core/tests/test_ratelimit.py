"""Rate limits: the database and Redis backends agree, and a hit is atomic under concurrency."""

import copy
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis
import time_machine
from django.db import connection, connections
from django.db.utils import load_backend

from heatdesk.core import ratelimit
from heatdesk.core.models import RateCounter

REDIS_URL = "redis://127.0.0.1:6379/15"
START = dt.datetime(2026, 1, 10, 3, 0, 5, tzinfo=dt.UTC)
FUTURE = dt.datetime(2036, 1, 10, 3, 0, 5, tzinfo=dt.UTC)


@pytest.fixture
def tag() -> str:
    """A unique part for every key a test makes, so Redis cleanup touches only those keys."""
    return f"test-{uuid.uuid4().hex}"


@dataclass
class Backend:
    kind: str
    advance: Callable[[float], None]


@pytest.fixture(params=["database", "redis"])
def backend(request, settings, tag) -> Iterator[Backend]:
    if request.param == "database":
        request.getfixturevalue("db")
        settings.RATELIMIT_REDIS_URL = ""
        with time_machine.travel(START, tick=False) as traveller:
            yield Backend("database", lambda s: traveller.shift(dt.timedelta(seconds=s)))
        return
    # Redis keeps its own clock: the test really waits, and leaves the process clock alone.
    settings.RATELIMIT_REDIS_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    yield Backend("redis", time.sleep)
    keys = list(client.scan_iter(match=f"heatdesk:*{tag}*"))
    if keys:
        client.delete(*keys)
    assert not list(client.scan_iter(match=f"heatdesk:*{tag}*"))


def test_the_backend_follows_the_setting(backend):
    kind = type(ratelimit._backend()).__name__
    assert kind == {"database": "_DatabaseBackend", "redis": "_RedisBackend"}[backend.kind]


def test_hit_counts_and_peek_reads_without_counting(backend, tag):
    window = ratelimit.fixed_window(f"{tag}:a", seconds=3600)
    other = ratelimit.fixed_window(f"{tag}:b", seconds=3600)
    assert ratelimit.peek(window) == 0
    assert [ratelimit.hit(window) for _ in range(3)] == [1, 2, 3]
    assert ratelimit.peek(window) == 3
    assert ratelimit.peek(window) == 3
    assert ratelimit.peek(other) == 0
    assert ratelimit.hit(other) == 1


def test_release_takes_one_back_and_never_goes_below_zero(backend, tag):
    window = ratelimit.fixed_window(f"{tag}:r", seconds=3600)
    # releasing a counter that does not exist creates nothing
    ratelimit.release(window)
    assert ratelimit.peek(window) == 0
    if backend.kind == "redis":
        assert not redis.Redis.from_url(REDIS_URL).exists(f"heatdesk:rl:{window.key}")
    else:
        assert not RateCounter.objects.filter(key=window.key).exists()
    ratelimit.hit(window)
    ratelimit.hit(window)
    ratelimit.release(window)
    assert ratelimit.peek(window) == 1
    ratelimit.release(window)
    ratelimit.release(window)
    assert ratelimit.peek(window) == 0
    assert ratelimit.hit(window) == 1


def test_a_new_window_starts_from_zero(backend, tag):
    # a moment in the future, so Redis keeps keys that expire at the end of their window
    with time_machine.travel(FUTURE, tick=False) as traveller:
        first = ratelimit.fixed_window(f"{tag}:w", seconds=60)
        ratelimit.hit(first)
        ratelimit.hit(first)
        assert ratelimit.peek(first) == 2
        traveller.shift(dt.timedelta(seconds=60))
        second = ratelimit.fixed_window(f"{tag}:w", seconds=60)
        assert second.key != first.key
        assert ratelimit.peek(second) == 0
        assert ratelimit.hit(second) == 1


def test_a_rolling_window_lives_while_hits_keep_coming_and_resets_after_a_quiet_spell(backend, tag):
    # given a one-second rolling window hit three times, each less than a second apart
    name = f"{tag}:roll"
    assert ratelimit.hit(ratelimit.rolling_window(name, seconds=1)) == 1
    backend.advance(0.8)
    assert ratelimit.hit(ratelimit.rolling_window(name, seconds=1)) == 2
    backend.advance(0.8)
    # then the count goes on past the first hit's second (a fixed window would have reset)
    window = ratelimit.rolling_window(name, seconds=1)
    assert ratelimit.hit(window) == 3
    assert ratelimit.peek(window) == 3
    # and a release takes one back from the live counter
    ratelimit.release(window)
    assert ratelimit.peek(window) == 2
    # when no hit comes for longer than the window
    backend.advance(2.2)
    window = ratelimit.rolling_window(name, seconds=1)
    # then it reads zero, a release changes nothing, and the next hit starts again at 1
    assert ratelimit.peek(window) == 0
    ratelimit.release(window)
    assert ratelimit.hit(window) == 1


def test_cooldown_refuses_a_second_start_until_it_ends(backend, tag):
    # when a one-second cooldown starts
    assert ratelimit.cooldown_remaining(f"{tag}:c") == 0
    assert ratelimit.cooldown_start(f"{tag}:c", seconds=1) == 0
    # then a second start and the remaining time report the running one
    assert ratelimit.cooldown_start(f"{tag}:c", seconds=1) == 1
    assert ratelimit.cooldown_remaining(f"{tag}:c") == 1
    assert ratelimit.cooldown_remaining(f"{tag}:other") == 0
    # and once it has passed, it can start again
    backend.advance(1.05)
    assert ratelimit.cooldown_remaining(f"{tag}:c") == 0
    assert ratelimit.cooldown_start(f"{tag}:c", seconds=60) == 0
    assert ratelimit.cooldown_start(f"{tag}:c", seconds=60) == 60


def test_local_day_window_ends_at_shanghai_midnight():
    with time_machine.travel(dt.datetime(2026, 1, 1, 15, 59, tzinfo=dt.UTC), tick=False):
        window = ratelimit.local_day_window("x")
    assert window.key == "x:day:2026-01-01"
    assert window.expires_at == dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC)
    with time_machine.travel(dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC), tick=False):
        assert ratelimit.local_day_window("x").key == "x:day:2026-01-02"


@pytest.mark.django_db
def test_purge_deletes_only_expired_database_counters(settings):
    settings.RATELIMIT_REDIS_URL = ""
    with time_machine.travel(START, tick=False) as traveller:
        old = ratelimit.fixed_window("old", seconds=60)
        ratelimit.hit(old)
        traveller.shift(dt.timedelta(seconds=120))
        live = ratelimit.fixed_window("live", seconds=3600)
        ratelimit.hit(live)
        assert ratelimit.purge_expired() == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == [live.key]


# Concurrency: several threads, each with its own connection, hit one window.


@pytest.fixture
def concurrent_connections(tmp_path, settings) -> Callable[[], object]:
    """A context manager that gives the calling thread its own connection to a database every
    thread shares: the test database on PostgreSQL; on SQLite a WAL file database like the
    embedded default (the in-memory test database cannot be shared by writing threads)."""
    settings.RATELIMIT_REDIS_URL = ""
    if connection.vendor != "sqlite":

        @contextmanager
        def same_database() -> Iterator[None]:
            try:
                yield
            finally:
                connections.close_all()

        return same_database

    file_settings = copy.deepcopy(connections.settings["default"])
    file_settings["NAME"] = str(tmp_path / "ratelimit.sqlite3")
    backend = load_backend(file_settings["ENGINE"])
    setup = backend.DatabaseWrapper(copy.deepcopy(file_settings), "default")
    with setup.schema_editor() as editor:
        editor.create_model(RateCounter)
    setup.close()

    @contextmanager
    def file_database() -> Iterator[None]:
        previous = connections["default"]
        own = backend.DatabaseWrapper(copy.deepcopy(file_settings), "default")
        connections["default"] = own
        try:
            yield
        finally:
            own.close()
            connections["default"] = previous

    return file_database


def _in_threads(count: int, work: Callable[[], None], connect: Callable[[], object]) -> list[str]:
    errors: list[str] = []

    def run() -> None:
        with connect():
            try:
                work()
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


THREADS, HITS = 6, 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_are_all_counted(concurrent_connections):
    window = ratelimit.fixed_window("concurrent", seconds=3600)
    counts: list[int] = []
    barrier = threading.Barrier(THREADS)

    def work() -> None:
        barrier.wait()
        for _ in range(HITS):
            counts.append(ratelimit.hit(window))

    # when several threads hit one window at once
    errors = _in_threads(THREADS, work, concurrent_connections)
    # then every hit was counted once and saw its own count
    assert errors == []
    assert sorted(counts) == list(range(1, THREADS * HITS + 1))
    with concurrent_connections():
        assert ratelimit.peek(window) == THREADS * HITS


@pytest.mark.django_db(transaction=True)
def test_control_a_read_then_write_counter_loses_hits(concurrent_connections):
    """Shows the test above can catch a race: a naive read-then-write counter loses hits."""
    window = ratelimit.fixed_window("naive", seconds=3600)
    with concurrent_connections():
        RateCounter.objects.create(key=window.key, count=0, expires_at=window.expires_at)
    barrier = threading.Barrier(THREADS)

    def naive_hit() -> None:
        seen = RateCounter.objects.get(key=window.key).count
        barrier.wait()  # everyone has read before anyone writes
        RateCounter.objects.filter(key=window.key).update(count=seen + 1)

    errors = _in_threads(THREADS, naive_hit, concurrent_connections)
    assert errors == []
    with concurrent_connections():
        assert RateCounter.objects.get(key=window.key).count == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_cooldown_starts_exactly_once(concurrent_connections):
    started: list[int] = []
    barrier = threading.Barrier(THREADS)

    def work() -> None:
        barrier.wait()
        started.append(ratelimit.cooldown_start("concurrent-cooldown", seconds=60))

    errors = _in_threads(THREADS, work, concurrent_connections)
    assert errors == []
    assert sorted(started) == [0] + [60] * (THREADS - 1)
