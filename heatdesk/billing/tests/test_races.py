"""Real races and real crashes, in forked processes against the configured database.

* Two billing runs of one season at once bill every house once: the per-season run lock lets
  one commit at a time, and without it the unique index (ON CONFLICT DO NOTHING) still does;
  the control drops both and sees duplicates.
* A run killed with SIGKILL in the middle of a batch leaves no half-written bill, and resumed it
  gives the bills of a run that was never interrupted.
* The same payment posted by several processes at once is posted once; different payments for
  one house at once never over-allocate.
"""

import datetime as dt
import multiprocessing
import os
import signal
import time
from collections import Counter
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection, connections

from heatdesk.billing import bulk
from heatdesk.billing.models import Allocation, Bill, BillingRun, BillLine, LedgerEntry
from heatdesk.billing.services import ledger, runs
from heatdesk.billing.tests.factories import assert_account_consistent, make_season, make_tariff
from heatdesk.billing.tests.processes import in_processes
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import Conflict
from heatdesk.testing import make_house, make_staff

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

HOUSES = 12
BATCH = 3
RACE_WINDOW = 0.05


def _city(code: str = "2026-2027") -> dict[str, Any]:
    season = make_season(code=code)
    make_tariff(season, area_price=D("25.00"))
    for n in range(HOUSES):
        make_house(building_area=D("80.00") + n)
    return {"season": season, "by": make_staff(f"runner-{code}", "admin")}


def _previewed(setup: dict[str, Any]) -> BillingRun:
    run = runs.billing_run_start(
        season=setup["season"], by=setup["by"], batch_size=BATCH, background=False
    )
    return runs.billing_run_process(run_id=run.pk)


def _slow_writes() -> None:
    """Batches that take a while, so the other process arrives while one is committing."""
    real = bulk.bills_write

    def slow(**kwargs: Any) -> set[int]:
        written = real(**kwargs)
        time.sleep(0.2)
        return written

    bulk.bills_write = slow  # in this child process only


def _commit_and_process(index: int, barrier: Any, run_id: int, by_id: int) -> str:
    from heatdesk.accounts.models import User

    _slow_writes()
    run, by = BillingRun.objects.get(pk=run_id), User.objects.get(pk=by_id)
    barrier.wait(timeout=60)
    try:
        runs.billing_run_commit(run=run, by=by, background=False)
    except Conflict as exc:
        return exc.code
    done = runs.billing_run_process(run_id=run_id)
    return f"{done.status}:{done.result['counts'].get('bills', 0)}"


def _one_bill_per_house(season) -> None:
    per_house = Counter(Bill.objects.filter(season=season).values_list("house_id", flat=True))
    assert len(per_house) == HOUSES
    assert set(per_house.values()) == {1}
    for bill in Bill.objects.filter(season=season):
        assert BillLine.objects.filter(bill=bill).count() == 1
        assert LedgerEntry.objects.filter(bill=bill).count() == 1


def test_two_runs_committed_at_once_bill_each_house_once(shared_database):
    setup = _city()
    first, second = _previewed(setup), _previewed(setup)
    # when
    answers = in_processes(
        _commit_and_process, [(first.pk, setup["by"].pk), (second.pk, setup["by"].pk)]
    )
    # then: one run billed everything; the other was held off by the per-season run lock or,
    # on SQLite where writers take turns, found nothing left to bill
    assert sorted(answers) in (
        sorted([f"committed:{HOUSES}", "run_in_progress"]),
        sorted([f"committed:{HOUSES}", "committed:0"]),
    )
    _one_bill_per_house(setup["season"])


def _blind_processing(index: int, barrier: Any, run_id: int) -> dict[str, int]:
    """Process a run whose look for existing bills is blind (it always finds none, as a look
    taken just before the other run's batch committed would): only the database can stop a
    second bill."""

    def blind(**kwargs: Any) -> set[int]:
        time.sleep(RACE_WINDOW)
        return set()

    runs.billed_house_ids = blind  # in this child process only
    barrier.wait(timeout=60)
    done = runs.billing_run_process(run_id=run_id)
    return done.result["counts"]


def _two_runs_committing(setup: dict[str, Any]) -> list[dict[str, int]]:
    first, second = _previewed(setup), _previewed(setup)
    for run in (first, second):
        runs.billing_run_commit(run=run, by=setup["by"], background=False)
    return in_processes(_blind_processing, [(first.pk,), (second.pk,)])


def _without(model, name: str):
    constraint = next(c for c in model._meta.constraints if c.name == name)
    with connection.schema_editor() as editor:
        editor.remove_constraint(model, constraint)
    return constraint


def _restore(model, constraint) -> None:
    with connection.schema_editor() as editor:
        editor.add_constraint(model, constraint)


def test_without_the_run_lock_the_unique_index_still_bills_each_house_once(shared_database):
    run_lock = _without(BillingRun, "billing_run_one_committing_per_season")
    try:
        setup = _city()
        # when: two runs write the same houses at once, neither seeing the other's bills
        counts = _two_runs_committing(setup)
    finally:
        _restore(BillingRun, run_lock)
    # then: ON CONFLICT DO NOTHING gave every house to exactly one of them
    _one_bill_per_house(setup["season"])
    assert counts[0].get("bills", 0) + counts[1].get("bills", 0) == HOUSES
    assert counts[0].get("existing", 0) + counts[1].get("existing", 0) == HOUSES


def test_control_without_the_run_lock_and_the_unique_index_the_runs_duplicate_bills(
    shared_database, monkeypatch
):
    # The PostgreSQL insert names the index it skips on; with the index gone it must name none
    # (the forked runs inherit this).
    monkeypatch.setattr(bulk, "ON_CONFLICT_POSTGRESQL", bulk.ON_CONFLICT)
    run_lock = _without(BillingRun, "billing_run_one_committing_per_season")
    bill_index = _without(Bill, "bill_one_per_house_season")
    try:
        setup = _city()
        counts = _two_runs_committing(setup)
        duplicated = Bill.objects.filter(season=setup["season"]).count()
        assert duplicated > HOUSES, counts
    finally:
        # Test data only: the duplicates must go before the index can come back.
        with connection.cursor() as cursor:
            for table in ("billing_allocation", "billing_ledgerentry", "billing_billline"):
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        Bill.objects.all().update(run=None)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_bill")
        _restore(Bill, bill_index)
        _restore(BillingRun, run_lock)


# --- A killed run -------------------------------------------------------------------------------


def _process_until_killed(run_id: int, marker: str) -> None:
    """Child: process the run; in its second batch, after the bills went in and before the
    transaction commits, tell the parent and wait to be killed."""
    real = bulk.bills_write
    calls = []

    def then_wait(**kwargs: Any) -> set[int]:
        written = real(**kwargs)
        calls.append(1)
        if len(calls) == 2:
            with open(marker, "w") as flag:
                flag.write("in batch 2")
            time.sleep(60)
        return written

    bulk.bills_write = then_wait
    try:
        runs.billing_run_process(run_id=run_id)
    finally:
        connections.close_all()


def test_a_run_killed_mid_batch_resumes_to_the_bills_of_an_uninterrupted_run(
    shared_database, tmp_path
):
    control = _city("2036-2037")
    uninterrupted = runs.billing_run_process(run_id=_previewed(control).pk)
    runs.billing_run_commit(run=uninterrupted, by=control["by"], background=False)
    runs.billing_run_process(run_id=uninterrupted.pk)
    setup = {"season": make_season(code="2026-2027"), "by": control["by"]}
    make_tariff(setup["season"], area_price=D("25.00"))
    run = _previewed(setup)
    runs.billing_run_commit(run=run, by=setup["by"], background=False)
    marker = tmp_path / "in-batch"
    # when: the worker is killed in its second batch
    context = multiprocessing.get_context("fork")
    connections.close_all()
    worker = context.Process(target=_process_until_killed, args=(run.pk, str(marker)))
    worker.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the worker never reached its second batch"
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL
    # then: the first batch is whole and nothing of the second is left
    run.refresh_from_db()
    assert (run.status, run.processed) == ("committing", BATCH)
    kept = Bill.objects.filter(season=setup["season"])
    assert kept.count() == BATCH
    assert BillLine.objects.filter(bill__in=kept).count() == BATCH
    assert LedgerEntry.objects.filter(bill__in=kept).count() == BATCH
    # when: it is resumed
    runs.billing_run_resume(run=run, by=setup["by"], background=False)
    run = runs.billing_run_process(run_id=run.pk)
    # then
    assert (run.status, run.result["counts"]["bills"]) == ("committed", HOUSES)

    def picture(season) -> dict[int, tuple]:
        return {
            b.house_id: (
                b.total_fen,
                b.area,
                list(
                    BillLine.objects.filter(bill=b)
                    .order_by("id")
                    .values_list("kind", "amount_fen", "explanation", "period_from", "period_to")
                ),
            )
            for b in Bill.objects.filter(season=season)
        }

    assert picture(setup["season"]) == picture(control["season"])


# --- Payments -----------------------------------------------------------------------------------

PAID_AT = dt.datetime(2026, 11, 20, 10, tzinfo=SHANGHAI)


def _post(index: int, barrier: Any, house_id: int, amount: int, source_id: str) -> int:
    from heatdesk.estates.models import House

    house = House.objects.get(pk=house_id)
    barrier.wait(timeout=60)
    posting = ledger.ledger_post_payment(
        house=house, amount_fen=amount, source="wx", source_id=source_id, paid_at=PAID_AT
    )
    return posting.entry.pk


def _billed_house():
    from heatdesk.billing import services

    season = make_season()
    make_tariff(season, area_price=D("25.00"))
    house = make_house(building_area=D("89.50"))
    bill = services.bill_issue(house=house, season=season, issued_by=None)
    return house, bill


def test_the_same_payment_posted_at_once_is_posted_once(shared_database):
    house, bill = _billed_house()
    entries = in_processes(_post, [(house.pk, 100000, "WX-SAME")] * 6)
    assert len(set(entries)) == 1
    assert LedgerEntry.objects.filter(kind="payment").count() == 1
    assert Allocation.objects.count() == 1
    assert Bill.objects.get(pk=bill.pk).paid_fen == 100000
    assert assert_account_consistent(house) == 223750 - 100000


def test_different_payments_at_once_never_over_allocate(shared_database):
    house, bill = _billed_house()
    in_processes(_post, [(house.pk, 50000, f"WX-{n}") for n in range(6)])
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.paid_fen) == ("paid", 223750)
    from heatdesk.billing.selectors.account import credit_fen

    assert credit_fen(house_id=house.pk) == 300000 - 223750
    assert assert_account_consistent(house) == -(300000 - 223750)
