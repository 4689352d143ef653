"""Rate limits that hold across processes and machines.

Kept in the database by default (one atomic upsert per hit, so two processes can never both
slip under a limit) or in Redis when REDIS_URL is set. Keys carry their own window, so a counter
is a plain row or Redis key that expires.
"""

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from heatdesk.core import clock


@dataclass(frozen=True)
class Window:
    key: str
    expires_at: dt.datetime


def fixed_window(name: str, *, seconds: int) -> Window:
    """The current window of `seconds` for `name` (e.g. per phone per hour)."""
    now = clock.now().timestamp()
    bucket = int(now // seconds)
    expires = dt.datetime.fromtimestamp((bucket + 1) * seconds, tz=dt.UTC)
    return Window(key=f"{name}:{seconds}:{bucket}", expires_at=expires)


def rolling_window(name: str, *, seconds: int) -> Window:
    """A counter for `name` that each hit keeps alive for `seconds` more: it starts at the first
    event and is reset only after `seconds` without one. So no `seconds`-long stretch can hold
    more events than the limit, wherever it falls (a fixed window allows twice the limit across
    its boundary)."""
    return Window(
        key=f"{name}:rolling:{seconds}",
        expires_at=clock.now() + dt.timedelta(seconds=seconds),
    )


def local_day_window(name: str) -> Window:
    """Today's window in Asia/Shanghai (for 'at most N a day')."""
    today = clock.local_today()
    return Window(
        key=f"{name}:day:{today.isoformat()}",
        expires_at=clock.local_day_start(today + dt.timedelta(days=1)),
    )


def hit(window: Window) -> int:
    """Count one event in the window and return the count including it."""
    return _backend().hit(window)


def peek(window: Window) -> int:
    """The count so far, without counting."""
    return _backend().peek(window)


def release(window: Window) -> None:
    """Take one event back (never below zero): for an attempt counted up front, with `hit`, so
    that concurrent attempts cannot all slip under a limit, that turned out not to count."""
    _backend().release(window)


def cooldown_start(name: str, *, seconds: int) -> int:
    """Start a cooldown for `name`; returns 0 when started, else seconds left of the running one."""
    return _backend().cooldown_start(name, seconds)


def cooldown_remaining(name: str) -> int:
    """Seconds left of a running cooldown for `name`, or 0."""
    return _backend().cooldown_remaining(name)


def seconds_until(moment: dt.datetime) -> int:
    return max(1, math.ceil((moment - clock.now()).total_seconds()))


class _DatabaseBackend:
    def hit(self, window: Window) -> int:
        # A counter whose time is up starts again at 1; the expiry moves to the window's (the
        # same for a fixed window, later for a rolling one).
        table = "core_ratecounter"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608
                f"ON CONFLICT (key) DO UPDATE SET count = CASE WHEN {table}.expires_at <= %s "
                f"THEN 1 ELSE {table}.count + 1 END, expires_at = excluded.expires_at "
                "RETURNING count",
                [window.key, _db_time(window.expires_at), _db_time(clock.now())],
            )
            row = cursor.fetchone()
        return int(row[0])

    def peek(self, window: Window) -> int:
        from heatdesk.core.models import RateCounter

        found = (
            RateCounter.objects.filter(key=window.key, expires_at__gt=clock.now())
            .values_list("count", flat=True)
            .first()
        )
        return int(found or 0)

    def release(self, window: Window) -> None:
        from heatdesk.core.models import RateCounter

        RateCounter.objects.filter(key=window.key, count__gt=0, expires_at__gt=clock.now()).update(
            count=F("count") - 1
        )

    def cooldown_start(self, name: str, seconds: int) -> int:
        now = clock.now()
        until = now + dt.timedelta(seconds=seconds)
        table = "core_ratecounter"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "  # noqa: S608
                f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1, "
                f"expires_at = excluded.expires_at WHERE {table}.expires_at <= %s "
                "RETURNING count",
                [f"cooldown:{name}", _db_time(until), _db_time(now)],
            )
            started = cursor.fetchone() is not None
            if started:
                return 0
            cursor.execute(
                f"SELECT expires_at FROM {table} WHERE key = %s",  # noqa: S608
                [f"cooldown:{name}"],
            )
            row = cursor.fetchone()
        expires = _parse(row[0])
        return seconds_until(expires)

    def cooldown_remaining(self, name: str) -> int:
        from heatdesk.core.models import RateCounter

        expires = (
            RateCounter.objects.filter(key=f"cooldown:{name}", expires_at__gt=clock.now())
            .values_list("expires_at", flat=True)
            .first()
        )
        return seconds_until(expires) if expires else 0


def _db_time(moment: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _parse(value: Any) -> dt.datetime:
    """A raw datetime column as an aware UTC datetime: SQLite gives naive UTC (or text)."""
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class _RedisBackend:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def hit(self, window: Window) -> int:
        key = f"heatdesk:rl:{window.key}"
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expireat(key, int(window.expires_at.timestamp()) + 1)
        count, _ = pipe.execute()
        return int(count)

    def peek(self, window: Window) -> int:
        value = self.client.get(f"heatdesk:rl:{window.key}")
        return int(value) if value is not None else 0

    # Decrement only a counter that exists and is above zero: DECR would create a key without
    # an expiry.
    _RELEASE = (
        "local v = tonumber(redis.call('get', KEYS[1]) or '0') "
        "if v > 0 then return redis.call('decr', KEYS[1]) end return 0"
    )

    def release(self, window: Window) -> None:
        self.client.eval(self._RELEASE, 1, f"heatdesk:rl:{window.key}")

    def cooldown_start(self, name: str, seconds: int) -> int:
        key = f"heatdesk:cool:{name}"
        if self.client.set(key, 1, ex=seconds, nx=True):
            return 0
        return max(1, int(self.client.ttl(key)))

    def cooldown_remaining(self, name: str) -> int:
        ttl = int(self.client.ttl(f"heatdesk:cool:{name}"))
        return max(ttl, 0)


@lru_cache(maxsize=2)
def _backend_for(redis_url: str) -> _DatabaseBackend | _RedisBackend:
    return _RedisBackend(redis_url) if redis_url else _DatabaseBackend()


def _backend() -> _DatabaseBackend | _RedisBackend:
    return _backend_for(getattr(settings, "RATELIMIT_REDIS_URL", settings.REDIS_URL))


def purge_expired() -> int:
    """Delete expired database counters (a periodic job)."""
    from heatdesk.core.models import RateCounter

    deleted, _ = RateCounter.objects.filter(expires_at__lt=clock.now()).delete()
    return deleted
