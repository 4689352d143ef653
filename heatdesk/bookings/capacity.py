"""The guard: taking and giving back places, decided by the database.

Every write path locks rows in one global order to avoid deadlocks: booking rows (by primary
key), then the window's resource row (shared-window capacity), then slot counters (by primary
key), then house quotas (by house, service). `Ledger`
collects counter changes and applies them in that order with conditional UPDATEs:
`booked + delta <= capacity` for slots, `active + delta <= limit` for house quotas. A
CheckConstraint backs both, so even a bug cannot overfill a slot.
"""

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F

from heatdesk.bookings.models import ACTIVE_STATUSES, Booking, HouseQuota, Resource, Service, Slot
from heatdesk.bookings.rules import peak_overlap
from heatdesk.bookings.selectors import slot_capacity
from heatdesk.core.errors import ApplicationError, Conflict
from heatdesk.core.rows import column, fetch

P = ParamSpec("P")
R = TypeVar("R")

# How long a booking write waits for a row lock on PostgreSQL before it gives up and answers
# "busy" (SQLite's wait is the connection's `timeout` in settings).
LOCK_TIMEOUT_MS = 5000

# Test hooks. RACE_GUARD=False turns the counter guard off (a control test shows the race then);
# RACE_WINDOW_SECONDS widens the gap between the availability check and the take. Production
# code never changes either.
RACE_GUARD = True
RACE_WINDOW_SECONDS = 0.0
# WINDOW_GUARD=False leaves out the shared-window check (a control test shows services sharing a
# window overfill it then, although each service's own counter holds).
WINDOW_GUARD = True


class SlotTaken(Conflict):
    code = "slot_taken"

    def __init__(self, message: str = "该时段刚刚被约满，请选择其他时间。") -> None:
        super().__init__(message)


class HouseLimitReached(Conflict):
    code = "house_booking_limit"

    def __init__(self) -> None:
        super().__init__("该房屋此项服务的有效预约已达上限，请先完成或取消已有预约。")


class Busy(ApplicationError):
    """The database stayed locked by other writers for longer than a request may wait."""

    code = "busy_try_again"
    status = 503

    def __init__(self) -> None:
        super().__init__("预约人数较多，系统繁忙，请稍后重试。")


def is_lock_timeout(exc: OperationalError) -> bool:
    """SQLite's busy timeout ran out, or PostgreSQL's lock_timeout did (lock_not_available)."""
    code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    if code == "55P03":
        return True
    text = str(exc)
    return "database is locked" in text or "database table is locked" in text


def busy_answers(func: Callable[P, R]) -> Callable[P, R]:
    """A write use case whose lock wait runs out answers `busy_try_again` (503), not a 5xx.

    Nothing was written: the transaction that waited is rolled back as a whole."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except OperationalError as exc:
            if is_lock_timeout(exc):
                raise Busy() from exc
            raise

    return wrapper


def unless_busy(work: Callable[[], R]) -> R | None:
    """Run `work` in a transaction of its own with bounded lock waits, for periodic jobs: None,
    with nothing written, when a lock wait ran out (a request holds the row; the job's next run
    takes it) instead of waiting without limit or failing the whole job."""
    try:
        with transaction.atomic():
            bound_lock_wait()
            return work()
    except OperationalError as exc:
        if is_lock_timeout(exc):
            return None
        raise


def bound_lock_wait() -> None:
    """On PostgreSQL, wait at most LOCK_TIMEOUT_MS for row locks in the current transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = {int(LOCK_TIMEOUT_MS)}")


def race_window() -> None:
    if RACE_WINDOW_SECONDS:
        time.sleep(RACE_WINDOW_SECONDS)


@dataclass
class Ledger:
    """Counter changes of one transaction, applied in lock order."""

    slots: dict[int, int] = field(default_factory=dict)
    quotas: dict[tuple[int, int], int] = field(default_factory=dict)
    quota_limits: dict[tuple[int, int], int | None] = field(default_factory=dict)

    def take_slot(self, slot_id: int) -> None:
        self.slots[slot_id] = self.slots.get(slot_id, 0) + 1

    def take_quota(self, *, house_id: int, service: Service) -> None:
        key = (house_id, service.pk)
        HouseQuota.objects.get_or_create(house_id=house_id, service=service)
        self.quotas[key] = self.quotas.get(key, 0) + 1
        self.quota_limits[key] = service.max_active_per_house

    def release(self, booking: Booking) -> None:
        """Give back what an active booking holds (its slot place and its house quota)."""
        if booking.slot_id is not None:
            self.slots[booking.slot_id] = self.slots.get(booking.slot_id, 0) - 1
        if booking.house_id is not None:
            key = (booking.house_id, booking.service_id)
            self.quotas[key] = self.quotas.get(key, 0) - 1

    def apply(self) -> None:
        for slot_id in sorted(self.slots):
            delta = self.slots[slot_id]
            if delta > 0:
                if not RACE_GUARD:
                    continue
                # One atomic statement: the row lock serialises takers, the WHERE re-checks
                # the count after the lock, so no slot ever holds more than its capacity.
                taken = Slot.objects.filter(pk=slot_id, booked__lte=F("capacity") - delta).update(
                    booked=F("booked") + delta
                )
                if not taken:
                    raise SlotTaken()
            elif delta < 0:
                Slot.objects.filter(pk=slot_id).update(booked=F("booked") + delta)
        for key in sorted(self.quotas):
            delta = self.quotas[key]
            house_id, service_id = key
            rows = HouseQuota.objects.filter(house_id=house_id, service_id=service_id)
            limit = self.quota_limits.get(key)
            if delta > 0 and limit is not None:
                if not rows.filter(active__lte=limit - delta).update(active=F("active") + delta):
                    raise HouseLimitReached()
            elif delta != 0:
                rows.update(active=F("active") + delta)


def slot_for(*, service: Service, resource: Resource, starts_at: dt.datetime) -> int:
    """The id of a window slot's counter row, created on first use (safe under concurrency).

    Plain SQL instead of `get_or_create`: a new slot costs two statements (look, then an
    insert that a concurrent twin cannot break) instead of four (look, SAVEPOINT, insert,
    RELEASE), and an existing one a single look.
    """
    table = Slot._meta.db_table
    ops = connection.ops
    at = ops.adapt_datetimefield_value(starts_at)
    find = f"SELECT id FROM {table} WHERE resource_id = %s AND service_id = %s AND starts_at = %s"  # noqa: S608 - a model's table name
    with connection.cursor() as cursor:
        cursor.execute(find, [resource.pk, service.pk, at])
        row = cursor.fetchone()
        if row is None:
            ends_at = starts_at + dt.timedelta(minutes=service.duration_minutes)
            cursor.execute(
                f"INSERT INTO {table} (resource_id, service_id, starts_at, ends_at, capacity, "  # noqa: S608
                "booked) VALUES (%s, %s, %s, %s, %s, 0) "
                "ON CONFLICT (resource_id, service_id, starts_at) DO NOTHING RETURNING id",
                [
                    resource.pk,
                    service.pk,
                    at,
                    ops.adapt_datetimefield_value(ends_at),
                    slot_capacity(service=service, resource=resource),
                ],
            )
            row = cursor.fetchone()
        if row is None:
            # A concurrent booking created it between our look and our insert.
            cursor.execute(find, [resource.pk, service.pk, at])
            row = cursor.fetchone()
    return int(row[0])


def ensure_window_room(
    *,
    resource: Resource,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    now: dt.datetime,
    ignore_booking_id: int | None = None,
) -> None:
    """Refuse when the window would serve more than its capacity at some moment of the range,
    counting the active bookings of every service that shares it.

    Each service's slot counter only limits that service, so a window shared by several
    services also needs this. The window's row lock (taken before any slot counter, see the
    lock order above) queues the takers of one window on PostgreSQL, and READ COMMITTED lets
    the count below see what the previous holder committed; on SQLite the IMMEDIATE
    transaction already serialises writers.
    """
    if not WINDOW_GUARD:
        return
    # Plain SQL: these two statements run on every window booking, and building them with the
    # ORM cost more than running them.
    ops = connection.ops
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT capacity_per_slot FROM {Resource._meta.db_table} WHERE id = %s{lock}",  # noqa: S608
            [resource.pk],
        )
        row = cursor.fetchone()
    window_capacity = row[0] if row else resource.capacity_per_slot
    at = ops.adapt_datetimefield_value
    # The active bookings of every service on this window that overlap the range: pending,
    # confirmed, and holds that have not run out (selectors.active_q).
    intervals = fetch(
        f"SELECT starts_at, ends_at FROM {Booking._meta.db_table} "  # noqa: S608
        f"WHERE resource_id = %s AND {ops.quote_name('exclusive')} = %s "
        "AND starts_at < %s AND ends_at > %s AND id <> %s "
        "AND (status IN (%s, %s) OR (status = %s AND hold_expires_at > %s))",
        [
            resource.pk,
            False,
            at(ends_at),
            at(starts_at),
            ignore_booking_id or 0,
            Booking.Status.PENDING.value,
            Booking.Status.CONFIRMED.value,
            Booking.Status.HELD.value,
            at(now),
        ],
        _INTERVAL_FIELDS,
        name="hd_window_bookings",
    )
    if peak_overlap([(a, b) for a, b in intervals], starts_at, ends_at) >= window_capacity:
        raise SlotTaken()


_INTERVAL_FIELDS = [column(Booking, "starts_at"), column(Booking, "ends_at")]


def stale_hold_ids(
    *,
    slot_id: int | None,
    resource: Resource,
    blocked_from: dt.datetime,
    blocked_until: dt.datetime,
    now: dt.datetime,
) -> list[int]:
    """Holds that ran out but still count: on the slot (windows), or overlapping the blocked
    range on the team. Ids only; nearly always none, so no row is built for nothing."""
    at = connection.ops.adapt_datetimefield_value
    sql = (
        f"SELECT id FROM {Booking._meta.db_table} "  # noqa: S608
        "WHERE status = %s AND hold_expires_at <= %s AND "
    )
    params: list[Any] = [Booking.Status.HELD.value, at(now)]
    if slot_id is not None:
        sql += "slot_id = %s"
        params.append(slot_id)
    else:
        sql += (
            f"resource_id = %s AND {connection.ops.quote_name('exclusive')} = %s "
            "AND blocked_from < %s AND blocked_until > %s"
        )
        params += [resource.pk, True, at(blocked_until), at(blocked_from)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [int(r[0]) for r in cursor.fetchall()]


def ensure_resource_free(
    *,
    resource: Resource,
    blocked_from: dt.datetime,
    blocked_until: dt.datetime,
    ignore_booking_id: int | None = None,
) -> None:
    """Refuse when an active booking of this team overlaps the range.

    On SQLite this check *is* the guard: the IMMEDIATE transaction holds the write lock from
    BEGIN, so no other writer can insert between this read and our insert. On PostgreSQL it only
    gives the friendly answer early; the exclusion constraint decides concurrent inserts.
    """
    clash = Booking.objects.filter(
        resource=resource,
        exclusive=True,
        status__in=ACTIVE_STATUSES,
        blocked_from__lt=blocked_until,
        blocked_until__gt=blocked_from,
    )
    if ignore_booking_id is not None:
        clash = clash.exclude(pk=ignore_booking_id)
    if clash.exists():
        raise SlotTaken()


def technician_busy(
    *,
    technician_id: int,
    blocked_from: dt.datetime,
    blocked_until: dt.datetime,
    ignore_booking_id: int,
) -> bool:
    return (
        Booking.objects.filter(
            technician_id=technician_id,
            status__in=ACTIVE_STATUSES,
            blocked_from__lt=blocked_until,
            blocked_until__gt=blocked_from,
        )
        .exclude(pk=ignore_booking_id)
        .exists()
    )


def violated_constraint(exc: IntegrityError) -> str:
    """The name of the constraint behind an IntegrityError (best effort, both databases)."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return str(name)
    text = str(exc)
    if "idempotency_key" in text:
        return "booking_idempotency_key_unique"
    if "bookings_booking.resident_id, bookings_booking.slot_id" in text:
        return "booking_one_active_per_resident_slot"
    for known in ("slot_booked_within_capacity", "house_quota_nonneg"):
        if known in text:
            return known
    return text


# Overlap and capacity constraints: the loser of a race gets "slot just taken".
TAKEN_CONSTRAINTS = frozenset(
    {
        "booking_resource_no_overlap",
        "slot_booked_within_capacity",
    }
)


def is_retryable(exc: OperationalError) -> bool:
    """PostgreSQL deadlock/serialisation failures: the whole transaction may simply be rerun."""
    code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    return code in {"40P01", "40001"}
