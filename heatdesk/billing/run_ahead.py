"""Planning a billing run's next batch while the current one is being written.

A batch's work is half Python (reading and planning its houses, encoding its rows) and half
database (inserting them, checking foreign keys, committing). Done in turn, a run takes the sum
of the two; here a thread with its own connection reads the next batch's houses (without locks),
plans them and encodes their rows while the run's own connection writes the current batch, so
a run takes about the longer of the two.

Nothing planned ahead is trusted: the batch's transaction locks its houses as before and uses the
plan only if the batch starts where the plan started, the houses are the same ones with the same
values the plan used (`run_plan.VERSION_COLUMNS`), and the existing bills, season dates, tariffs
and duplicate meters are the same; otherwise it plans the batch again from the locked rows.
The queue holds one batch, so at most three are in memory (written, waiting, being planned).
"""

import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import DecimalField, QuerySet

from heatdesk.billing import bulk, run_plan
from heatdesk.billing.calculation import SeasonDates
from heatdesk.estates.models import House


@dataclass(frozen=True)
class Context:
    """What a run's batches are planned with; read in the batch's transaction, or once for a
    read-ahead (and compared with the transaction's before its plans are used)."""

    run_id: int
    season_id: int
    committing: bool
    batch_size: int
    last_house_id: int
    dates: SeasonDates
    tariffs: dict[str, run_plan.TariffPick]
    duplicate_meters: frozenset[str]

    def same_terms(self, other: "Context") -> bool:
        return (
            self.run_id == other.run_id
            and self.committing == other.committing
            and self.dates == other.dates
            and self.duplicate_meters == other.duplicate_meters
            and {k: t.id for k, t in self.tariffs.items()}
            == {k: t.id for k, t in other.tariffs.items()}
        )


class Planned(NamedTuple):
    """One batch planned from the houses with ids above `after`."""

    context: Context
    after: int
    houses: list[run_plan.HouseRow]
    versions: list[tuple[object, ...]]
    billed: set[int]
    planned: list[run_plan.Planned]
    rows: list[bulk.BillRow]
    staged: bulk.Staged | None


class _Areas(dict[object, Decimal]):
    """A house area as Django reads it from SQLite (a float made a 2-place Decimal), made once
    per distinct stored value: a city has far fewer distinct areas than houses, and Django's
    converter, run for every row, cost more than reading the row."""

    def __init__(self, field: str) -> None:
        super().__init__()
        decimal_field = House._meta.get_field(field)
        assert isinstance(decimal_field, DecimalField)  # noqa: S101 - the model says so
        self.column = decimal_field.get_col(House._meta.db_table)
        self.convert = connection.ops.get_decimalfield_converter(self.column)  # type: ignore[attr-defined]

    def __missing__(self, value: object) -> Decimal:
        found: Decimal = self.convert(value, self.column, connection)
        if len(self) < MAX_AREAS_CACHED:
            self[value] = found
        return found


MAX_AREAS_CACHED = 100_000
_AREAS: dict[str, _Areas] = {}


def _rows(batch: QuerySet[House], columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """`batch.values_list(*columns)` as tuples; on SQLite without Django's per-row converters
    (the columns hold no value that needs one but the two areas, converted through `_Areas`)."""
    rows = batch.values_list(*columns)
    if connection.vendor != "sqlite":
        return list(rows)
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        raw = cursor.fetchall()
    at = [columns.index("building_area"), columns.index("heated_area")]
    areas = [
        _AREAS.get(columns[i]) or _AREAS.setdefault(columns[i], _Areas(columns[i])) for i in at
    ]
    answer = []
    for row in raw:
        values = list(row)
        for i, area in zip(at, areas, strict=True):
            values[i] = area[values[i]]
        answer.append(tuple(values))
    return answer


def houses_read(*, after: int, last: int, size: int, lock: bool) -> list[run_plan.HouseRow]:
    """The batch's houses (the first `size` with ids in (after, last]), every column a plan and
    the tally use; locked when `lock` (in id order, and only them, not their units or
    communities)."""
    batch = House.objects.filter(pk__gt=after, pk__lte=last).order_by("pk")
    if lock:
        batch = batch.select_for_update(of=("self",))
    rows = _rows(batch[:size], run_plan.HOUSE_COLUMNS)
    return list(map(run_plan.HouseRow._make, rows))


def versions_read(*, after: int, last: int, size: int, lock: bool) -> list[tuple[object, ...]]:
    """The same houses as `houses_read`, only what their plans depend on (no joins)."""
    batch = House.objects.filter(pk__gt=after, pk__lte=last).order_by("pk")
    if lock:
        batch = batch.select_for_update()
    return _rows(batch[:size], run_plan.VERSION_COLUMNS)


def plan_batch(
    *, houses: Sequence[run_plan.HouseRow], billed: set[int], context: Context
) -> tuple[list[run_plan.Planned], list[bulk.BillRow]]:
    """Every house's outcome, and the bills to write."""
    dates, tariffs, meters = context.dates, context.tariffs, context.duplicate_meters
    planned = [
        run_plan.plan_house(
            house=house, season=dates, tariffs=tariffs, billed=billed, duplicate_meters=meters
        )
        for house in houses
    ]
    rows = [
        bulk.BillRow(
            plan.house.id,
            plan.tariff.id,
            plan.area,
            plan.house.usage_type,
            plan.house.user_type,
            plan.house.heating_status,
            plan.total_fen,
            plan.lines,
        )
        for plan in planned
        if plan.outcome == run_plan.BILL and plan.tariff is not None
    ]
    return planned, rows


BilledRead = Callable[..., set[int]]
_DONE = object()


class ReadAhead:
    """A thread that plans batch after batch from `after` on, one batch ahead of the writer.

    `take()` returns the next batch, or None when the thread has stopped (no houses left, or an
    error: the writer then plans for itself, and meets the error itself if it is real)."""

    def __init__(
        self,
        *,
        context_read: Callable[[], Context],
        after: int,
        billed_read: BilledRead,
        encode: bool = True,
    ) -> None:
        self.after = after
        self._context_read = context_read
        # The thread opens a connection of its own, to the database the writer's goes to.
        writer = connections[DEFAULT_DB_ALIAS]
        self._connection = (type(writer), dict(writer.settings_dict))
        self._billed_read = billed_read
        self._encode = encode
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="billing-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _work(self) -> None:
        after = self.after
        kind, settings = self._connection
        own = kind(settings, DEFAULT_DB_ALIAS)
        connections[DEFAULT_DB_ALIAS] = own  # in this thread only
        try:
            context = self._context_read()
            while not self._stop.is_set():
                houses = houses_read(
                    after=after, last=context.last_house_id, size=context.batch_size, lock=False
                )
                if not houses:
                    break
                billed = self._billed_read(
                    season_id=context.season_id, first=houses[0].id, last=houses[-1].id
                )
                planned, rows = plan_batch(houses=houses, billed=billed, context=context)
                staged = bulk.stage(rows) if self._encode and context.committing else None
                versions = list(map(run_plan.house_version, houses))
                batch = Planned(context, after, houses, versions, billed, planned, rows, staged)
                if not self._put(batch):
                    break
                after = houses[-1].id
        except BaseException as exc:  # noqa: BLE001 - the writer plans for itself instead
            self.error = exc
        finally:
            own.close()
            self._put(_DONE)

    def take(self) -> Planned | None:
        if self._stop.is_set():
            return None
        item = self._queue.get()
        if item is _DONE:
            self._stop.set()
            return None
        planned: Planned = item
        return planned

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()
