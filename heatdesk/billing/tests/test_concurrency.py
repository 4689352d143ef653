"""Real races: several processes, each with its own connection, issue the same bills at once.

On PostgreSQL the processes share pytest's test database. SQLite's test database is in memory,
so `shared_database` copies it into a file and points the default connection at it; the forked
children open their own connections to that file (WAL, IMMEDIATE transactions, as in
production).

Each attempt looks for an existing bill, finds none, and then waits RACE_WINDOW seconds before
writing, so every process is in flight with the same stale picture; the database alone then
decides. The control test drops the partial unique index and must see duplicate bills.
"""

import multiprocessing
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors
from heatdesk.billing.models import Bill, BillLine, Tariff
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.testing import make_house, make_staff

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

PROCESSES = 6
HOUSES = 4
RACE_WINDOW = 0.05


def _slow_look(**kwargs: Any) -> Bill | None:
    """The idempotency pre-check, then a pause: everyone passes it before anyone writes."""
    found = selectors.bill_live_for(**kwargs)
    time.sleep(RACE_WINDOW)
    return found


def _issue_all(job: dict[str, Any], barrier: Any, results: Any, index: int) -> None:
    from heatdesk.accounts.models import User
    from heatdesk.billing import services
    from heatdesk.billing.models import HeatingSeason
    from heatdesk.billing.services import bills as bill_services
    from heatdesk.estates.models import House

    bill_services.bill_live_for = _slow_look  # in this child process only
    outcomes: list[str] = []
    try:
        season = HeatingSeason.objects.get(pk=job["season_id"])
        user = User.objects.get(pk=job["user_id"])
        houses = list(House.objects.filter(pk__in=job["house_ids"]).order_by("pk"))
        if index % 2:
            houses.reverse()
        barrier.wait(timeout=60)
        for house in houses:
            try:
                bill = services.bill_issue(house=house, season=season, issued_by=user)
                outcomes.append(f"{house.pk}:{bill.pk}")
            except Exception as exc:  # noqa: BLE001 - any other outcome is a failure to report
                outcomes.append(f"error:{type(exc).__name__}:{exc}")
    finally:
        connections.close_all()
        results.put((index, outcomes))


def race(job: dict[str, Any]) -> Counter[str]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    connections.close_all()  # children must not share the parent's connection
    workers = [
        context.Process(target=_issue_all, args=(job, barrier, results, i))
        for i in range(PROCESSES)
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


def _setup() -> dict[str, Any]:
    season = make_season()
    make_tariff(season)
    houses = [make_house() for _ in range(HOUSES)]
    user = make_staff("billing-racer", "finance")
    return {"season_id": season.pk, "house_ids": [h.pk for h in houses], "user_id": user.pk}


def test_concurrent_issues_give_one_bill_per_house_and_the_same_answer(shared_database):
    # given four houses and six processes that each issue all four bills at once
    job = _setup()
    # when
    outcomes = race(job)
    # then: 24 answers, no errors, and every answer for a house names the same single bill
    assert sum(outcomes.values()) == PROCESSES * HOUSES
    assert not [o for o in outcomes if o.startswith("error")], outcomes
    bills = {bill.house_id: bill.pk for bill in Bill.objects.all()}
    assert len(bills) == HOUSES
    assert outcomes == Counter({f"{house}:{bill}": PROCESSES for house, bill in bills.items()})
    assert BillLine.objects.count() == HOUSES
    assert all(b.total_fen == 223750 for b in Bill.objects.all())
    assert AuditEntry.objects.filter(action="billing.bill_issue").count() == HOUSES
    assert Tariff.objects.get().in_use_since is not None


def test_control_without_the_unique_index_the_same_race_duplicates_bills(shared_database):
    constraint = next(c for c in Bill._meta.constraints if c.name == "bill_one_per_house_season")
    with connection.schema_editor() as editor:
        editor.remove_constraint(Bill, constraint)
    try:
        job = _setup()
        outcomes = race(job)
        assert Bill.objects.count() > HOUSES, outcomes
    finally:
        # Test data only: the duplicates must go before the index can come back (the ledger
        # refuses deletes through the ORM, so its test rows go by SQL).
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_allocation")
            cursor.execute("DELETE FROM billing_ledgerentry")
        BillLine.objects.all().delete()
        Bill.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(Bill, constraint)
