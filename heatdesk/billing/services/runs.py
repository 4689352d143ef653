"""Billing runs: start one (a dry run), commit it, resume or cancel it, and process it batch by
batch. Interfaces (admin, API, the `billing_run` command, the task) call these and nothing else.

Processing is safe to repeat and to run twice at once: each batch locks the run's row, reads
its cursor, writes and moves the cursor in one transaction, so a second processor waits and
then continues after the first one's batch. A process killed mid-batch loses that transaction
only; processing again continues from the cursor.
"""

import contextlib
import datetime as dt
import functools
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Sum

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import bulk, run_ahead, run_plan, terms
from heatdesk.billing.models import (
    Allocation,
    Bill,
    BillingRun,
    HeatingSeason,
    LedgerEntry,
    Tariff,
)
from heatdesk.billing.models.run import DEFAULT_BATCH_SIZE, empty_tally
from heatdesk.billing.services import ledger
from heatdesk.billing.services.common import TARIFF_TERMS, snapshot
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, ValidationFailed
from heatdesk.estates.models import House

Status = BillingRun.Status
MAX_DUPLICATE_METERS = 1000
STALE_AFTER = dt.timedelta(minutes=10)
YIELD_SECONDS = 0.02
RUN_CACHE_KIB = 128 * 1024  # SQLite's page cache while a run is processed


class RunStale(Conflict):
    """The run can no longer go on as previewed (prices changed, the season closed)."""

    code = "run_stale"


# --- Starting, committing, resuming, cancelling -------------------------------------------------


def _enqueue_after_commit(run: BillingRun) -> None:
    from heatdesk.billing.tasks import billing_run_work

    transaction.on_commit(functools.partial(billing_run_work.enqueue, run.pk))


def _current_tariffs(season: HeatingSeason) -> dict[str, Tariff]:
    """The version new bills use for every (usage type, user type) the season prices."""
    current: dict[str, Tariff] = {}
    for tariff in Tariff.objects.filter(season=season).order_by("version"):
        current[f"{tariff.usage_type}/{tariff.user_type}"] = tariff
    return current


def _tariff_snapshot(season: HeatingSeason) -> dict[str, Any]:
    return {
        key: {"id": t.pk, "version": t.version, "terms": snapshot(t, TARIFF_TERMS)}
        for key, t in sorted(_current_tariffs(season).items())
    }


def _duplicate_meters() -> list[str]:
    return list(
        House.objects.exclude(meter_id="")
        .values("meter_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("meter_id")
        .values_list("meter_id", flat=True)[:MAX_DUPLICATE_METERS]
    )


def billing_run_start(
    *,
    season: HeatingSeason,
    by: User | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    background: bool = True,
) -> BillingRun:
    """Start a run for `season` with its dry run: every house is planned and counted, nothing
    but the run is written. Processed by a background task (or by the caller when
    `background` is False, as the `billing_run` command does)."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= 50000
    ):
        raise ValidationFailed(
            "每批户数须在1–50000之间。", fields={"batch_size": ["每批户数须在1–50000之间。"]}
        )
    if HeatingSeason.objects.filter(pk=season.pk, status=HeatingSeason.Status.CLOSED).exists():
        raise Conflict(f"{season.code}采暖季已结束，不能开账。", code="season_closed")
    with transaction.atomic():
        last = House.objects.aggregate(last=Max("id"))["last"] or 0
        now = clock.now()
        run = BillingRun.objects.create(
            season=season,
            status=Status.PREVIEWING,
            phase=BillingRun.Phase.PREVIEW,
            batch_size=batch_size,
            last_house_id=last,
            total=House.objects.filter(pk__lte=last).count(),
            tariffs=_tariff_snapshot(season),
            duplicate_meters=_duplicate_meters(),
            started_by=by,
            heartbeat_at=now,
        )
        audit_record(
            actor=by,
            action="billing.run_start",
            obj=run,
            after={"season": season.code, "houses": run.total, "batch_size": batch_size},
        )
        if background:
            _enqueue_after_commit(run)
    return run


def _move(run: BillingRun, *, to: str, **changes: Any) -> str:
    """Compare-and-set the run's status; returns the status it left."""
    current = BillingRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
    if to not in BillingRun.TRANSITIONS[current]:
        labels = dict(Status.choices)
        raise Conflict(
            f"开账批次当前状态为“{labels[current]}”，不能改为“{labels[to]}”。",
            code="run_transition_invalid",
        )
    try:
        with transaction.atomic():
            moved = BillingRun.objects.filter(pk=run.pk, status=current).update(
                status=to, **changes
            )
    except IntegrityError:
        # The per-season run lock: another run of this season is committing.
        raise Conflict(
            "该采暖季已有正在开账的批次，请等它完成后再提交。", code="run_in_progress"
        ) from None
    if not moved:
        raise Conflict("开账批次状态刚刚被他人修改，请刷新后重试。", code="run_conflict")
    return current


def billing_run_commit(*, run: BillingRun, by: User | None, background: bool = True) -> BillingRun:
    """Commit a previewed run: bill every house of the season that has no bill yet.

    Refused while another run of the season is committing (the per-season run lock), when
    the season is not open, and when the prices changed since the preview (preview again).
    """
    with transaction.atomic():
        row = BillingRun.objects.select_for_update().select_related("season").get(pk=run.pk)
        if row.status != Status.PREVIEWED:
            raise Conflict(
                f"开账批次当前状态为“{row.get_status_display()}”，只有预览完成的批次可以提交。",
                code="run_not_previewed",
            )
        season = row.season
        if season.status != HeatingSeason.Status.OPEN:
            raise Conflict(f"{season.code}采暖季未开启，不能开账。", code="season_not_open")
        now = clock.now()
        # Mark the versions in use first: an edit in flight finishes before we compare, and
        # none can start afterwards (`tariff_update` refuses versions in use).
        used = [entry["id"] for entry in row.tariffs.values()]
        Tariff.objects.filter(pk__in=used, in_use_since=None).update(in_use_since=now)
        if _tariff_snapshot(season) != row.tariffs:
            raise RunStale("预览后热价已修改，请重新预览后再提交。", code="run_stale")
        _move(
            row,
            to=Status.COMMITTING,
            phase=BillingRun.Phase.COMMIT,
            cursor=0,
            processed=0,
            result=empty_tally(),
            commit_started_at=now,
            committed_by=by,
            heartbeat_at=now,
        )
        audit_record(
            actor=by,
            action="billing.run_commit",
            obj=row,
            before={"status": Status.PREVIEWED},
            after={"status": Status.COMMITTING, "preview": row.preview.get("counts", {})},
        )
        if background:
            _enqueue_after_commit(row)
    run.refresh_from_db()
    return run


def billing_run_resume(*, run: BillingRun, by: User | None, background: bool = True) -> BillingRun:
    """Continue a run from its cursor: after a failure (once its cause is fixed), or when its
    worker died. Resuming a run that is still being processed is harmless."""
    with transaction.atomic():
        row = BillingRun.objects.select_for_update().get(pk=run.pk)
        if row.status == Status.FAILED:
            to = Status.PREVIEWING if row.phase == BillingRun.Phase.PREVIEW else Status.COMMITTING
            _move(row, to=to, error="", heartbeat_at=clock.now())
        elif row.status not in BillingRun.ACTIVE:
            raise Conflict(
                f"开账批次当前状态为“{row.get_status_display()}”，无需继续。",
                code="run_not_resumable",
            )
        audit_record(
            actor=by,
            action="billing.run_resume",
            obj=row,
            before={"status": row.status, "cursor": row.cursor},
        )
        if background:
            _enqueue_after_commit(row)
    run.refresh_from_db()
    return run


def billing_run_cancel(*, run: BillingRun, by: User | None, reason: str = "") -> BillingRun:
    """Stop a run. Bills a committing run already wrote stay (they are complete); the next
    run bills the rest."""
    with transaction.atomic():
        before = _move(run, to=Status.CANCELLED, finished_at=clock.now())
        audit_record(
            actor=by,
            action="billing.run_cancel",
            obj=run,
            before={"status": before},
            after={"status": Status.CANCELLED},
            reason=reason,
        )
    run.refresh_from_db()
    return run


# --- Processing ---------------------------------------------------------------------------------


def _tariff_picks(run: BillingRun) -> dict[str, run_plan.TariffPick]:
    current = _current_tariffs(run.season)
    if {key: t.pk for key, t in current.items()} != {
        key: entry["id"] for key, entry in run.tariffs.items()
    }:
        raise RunStale("开账期间热价有了新版本，请重新预览后再开账。")
    dates = terms.season_dates(run.season)
    return {
        key: run_plan.tariff_pick(
            id=t.pk,
            version=t.version,
            area_basis=t.area_basis,
            terms=terms.tariff_terms(t),
            season=dates,
        )
        for key, t in current.items()
    }


def billed_house_ids(*, season_id: int, first: int, last: int) -> set[int]:
    """Houses with ids in [first, last] that have a live bill for the season."""
    # `season_id + 0` keeps the planner on the house range: without statistics SQLite would
    # rather walk the (season, status) index, i.e. every bill of the season, for every batch.
    return set(
        Bill.objects.annotate(season_key=F("season_id") + 0)
        .filter(season_key=season_id, house_id__gte=first, house_id__lte=last)
        .exclude(status=Bill.Status.VOID)
        .order_by()
        .values_list("house_id", flat=True)
    )


def _credit_to_new_bills(
    run: BillingRun, house_ids: set[int], *, first: int, last: int, at: dt.datetime
) -> None:
    """Houses with account credit pay their new bill from it at once (the batch holds their
    locks, so no payment can slip between). Money entries are few: the range query reads them
    from their own partial index."""
    received = dict(
        LedgerEntry.objects.filter(
            house_id__gte=first,
            house_id__lte=last,
            kind__in=[LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.REFUND],
        )
        .values("house_id")
        .annotate(total=Sum("amount_fen"))
        .values_list("house_id", "total")
    )
    candidates = sorted(set(received) & house_ids)
    if not candidates:
        return
    allocated = dict(
        Allocation.objects.filter(house_id__in=candidates)
        .values("house_id")
        .annotate(total=Sum("amount_fen"))
        .values_list("house_id", "total")
    )
    for house_id in candidates:
        if -received[house_id] - allocated.get(house_id, 0) <= 0:
            continue
        cause = LedgerEntry.objects.get(
            house_id=house_id, bill__run=run, bill__season_id=run.season_id, kind="charge"
        )
        ledger.credit_apply(house_id=house_id, cause=cause, by=run.committed_by, at=at)


def _context(run: BillingRun) -> run_ahead.Context:
    return run_ahead.Context(
        run_id=run.pk,
        season_id=run.season_id,
        committing=run.status == Status.COMMITTING,
        batch_size=run.batch_size,
        last_house_id=run.last_house_id,
        dates=terms.season_dates(run.season),
        tariffs=_tariff_picks(run),
        duplicate_meters=frozenset(run.duplicate_meters),
    )


def billing_run_step(*, run_id: int) -> bool:
    """Process the run's next batch in one transaction; False when there is nothing left."""
    return _step(run_id, None) is not None


def _step(run_id: int, ahead: run_ahead.Planned | None) -> int | None:
    """One batch, planned here or taken from `ahead` if it still holds; the new cursor, or None
    when the run has nothing left (or is no longer active)."""
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().select_related("season").get(pk=run_id)
        if run.status not in BillingRun.ACTIVE:
            return None
        committing = run.status == Status.COMMITTING
        season = run.season
        if committing and season.status != HeatingSeason.Status.OPEN:
            raise RunStale(f"{season.code}采暖季已不在进行中，开账暂停。")
        # Committing, the batch's houses are locked (in id order, and only them, not their
        # units or communities) in the query that reads them: a payment, an issue or a 报停
        # approval for one of them either finished before — and we read what it wrote, as
        # PostgreSQL returns the latest version of a row it had to wait for — or waits for
        # this batch. A plan made ahead is used only if it saw the same houses as they are now.
        houses: list[run_plan.HouseRow] | None = None
        batch = {"after": run.cursor, "last": run.last_house_id, "size": run.batch_size}
        if ahead is not None and ahead.after == run.cursor and ahead.houses:
            now_versions = run_ahead.versions_read(**batch, lock=committing)
            if now_versions == ahead.versions:
                houses = ahead.houses
        if houses is None:
            houses = run_ahead.houses_read(**batch, lock=committing)
        if not houses:
            _finish(run)
            return None
        context = _context(run)
        first, last = houses[0].id, houses[-1].id
        billed = billed_house_ids(season_id=season.pk, first=first, last=last)
        staged: bulk.Staged | None = None
        if (
            ahead is not None
            and houses is ahead.houses
            and billed == ahead.billed
            and context.same_terms(ahead.context)
        ):
            planned, rows, staged = ahead.planned, ahead.rows, ahead.staged
        else:
            planned, rows = run_ahead.plan_batch(houses=houses, billed=billed, context=context)
        now = clock.now()
        written: set[int] | None = None
        if committing:
            written = bulk.bills_write(
                batch=bulk.Batch(
                    season_id=season.pk,
                    run_id=run.pk,
                    by_id=run.committed_by_id,
                    at=now,
                    charge_words=f"{season.code}采暖季热费（账单 ",
                ),
                rows=rows,
                staged=staged,
            )
            if written:
                _credit_to_new_bills(run, written, first=first, last=last, at=now)
        tally = run.result if committing else run.preview
        run_plan.tally_add(tally, planned, written)
        run.cursor = last
        run.processed += len(houses)
        run.heartbeat_at = now
        # Only the tally this phase adds to: each is a JSON document with every community's
        # totals, rewritten by every batch.
        tallied = "result" if committing else "preview"
        run.save(update_fields=["cursor", "processed", "heartbeat_at", tallied])
    return last


def _finish(run: BillingRun) -> None:
    now = clock.now()
    if run.status == Status.PREVIEWING:
        _move(run, to=Status.PREVIEWED, previewed_at=now, heartbeat_at=now)
        return
    _move(run, to=Status.COMMITTED, finished_at=now, heartbeat_at=now)
    audit_record(
        actor=run.committed_by,
        action="billing.run_committed",
        obj=run,
        before={"status": Status.COMMITTING},
        after={"status": Status.COMMITTED, "counts": run.result.get("counts", {})},
    )


def _fail(run_id: int, message: str) -> None:
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.status in BillingRun.ACTIVE:
            BillingRun.objects.filter(pk=run_id, status=run.status).update(
                status=Status.FAILED, error=message[:4000], heartbeat_at=clock.now()
            )


def _context_of(run_id: int) -> run_ahead.Context:
    return _context(BillingRun.objects.select_related("season").get(pk=run_id))


def billing_run_process(
    *,
    run_id: int,
    on_batch: Callable[[BillingRun], None] | None = None,
    read_ahead: bool | None = None,
) -> BillingRun:
    """Process batches until the run is done, stopped or failed. A refusal (prices changed,
    season closed) or an unexpected error pauses the run as failed, with the reason; staff
    resume it once the cause is fixed. A process that dies leaves the run as it was, to be
    resumed from its cursor.

    With `read_ahead` (the default on PostgreSQL, whose server writes a batch while this
    process plans the next) a thread plans each next batch while the current one is written;
    see `run_ahead`."""
    sqlite = connection.vendor == "sqlite"
    pause = YIELD_SECONDS if sqlite else 0.0
    if read_ahead is None:
        read_ahead = not sqlite
    reader: run_ahead.ReadAhead | None = None
    try:
        with _few_collections(), _sqlite_cache():
            while True:
                if read_ahead and reader is None:
                    start = BillingRun.objects.values_list("cursor", flat=True).get(pk=run_id)
                    reader = run_ahead.ReadAhead(
                        context_read=functools.partial(_context_of, run_id),
                        after=start,
                        billed_read=billed_house_ids,
                    )
                ahead = reader.take() if reader is not None else None
                try:
                    cursor = _step(run_id, ahead)
                except ApplicationError as exc:
                    _fail(run_id, exc.message)
                    break
                except Exception as exc:
                    _fail(run_id, f"{type(exc).__name__}: {exc}")
                    raise
                if on_batch is not None:
                    on_batch(BillingRun.objects.get(pk=run_id))
                if cursor is None:
                    break
                if reader is not None:
                    # The reader plans on from the end of the batch it handed over.
                    expected = ahead.houses[-1].id if ahead is not None else None
                    if expected != cursor:
                        # The batch was not the one planned ahead (another worker moved the
                        # cursor, or houses came or went): plan ahead again from here.
                        reader.close()
                        read_ahead = reader.error is None  # else plan here from now on
                        reader = None
                if pause:
                    # SQLite has one writer at a time and no queue: without a gap between
                    # batches a payment waiting for the lock could starve until the whole run
                    # is over.
                    time.sleep(pause)
    finally:
        if reader is not None:
            reader.close()
    return BillingRun.objects.get(pk=run_id)


@contextlib.contextmanager
def _sqlite_cache() -> Iterator[None]:
    """On SQLite, a page cache of `RUN_CACHE_KIB` for the run's connection while it runs (the
    default 2 MB holds little of the bill indexes every batch inserts into, so most pages came
    through a system call: ≈ 18 % of a 200,000-house commit's CPU); put back afterwards."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-RUN_CACHE_KIB:d}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before):d}")


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """A run makes millions of short-lived tuples that hold no reference cycles; the garbage
    collector's default pace (a young collection every 700 allocations, full ones as the heap
    grows) cost about a fifth of the run's Python time. Collect less often while it runs."""
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def billing_runs_resume_stale() -> list[int]:
    """Runs whose worker stopped reporting progress (it died) are queued again; processing
    a run twice at once is safe, so a slow worker taken for dead costs nothing."""
    stale = list(
        BillingRun.objects.filter(
            status__in=BillingRun.ACTIVE, heartbeat_at__lt=clock.now() - STALE_AFTER
        ).values_list("pk", flat=True)
    )
    from heatdesk.billing.tasks import billing_run_work

    for run_id in stale:
        billing_run_work.enqueue(run_id)
    return stale
