"""While a run is processed, its process collects garbage less often and, on SQLite, its
connection has a larger page cache; both are put back afterwards, also when a batch fails."""

import gc
from decimal import Decimal as D

import pytest
from django.db import connection

from heatdesk.billing import bulk
from heatdesk.billing.services import runs
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db


def _cache_size() -> int | None:
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        return int(cursor.fetchone()[0])


def _run(season, admin_user):
    for area in ("80.00", "90.00", "100.00"):
        make_house(building_area=D(area))
    run = runs.billing_run_start(season=season, by=admin_user, batch_size=2, background=False)
    return runs.billing_run_process(run_id=run.pk)


def test_a_run_tunes_its_process_only_while_it_runs(season, tariff, admin_user):
    # given
    run = _run(season, admin_user)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    threshold, cache = gc.get_threshold(), _cache_size()
    seen = []
    # when
    done = runs.billing_run_process(
        run_id=run.pk, on_batch=lambda _: seen.append((gc.get_threshold(), _cache_size()))
    )
    # then
    sqlite_cache = -runs.RUN_CACHE_KIB if connection.vendor == "sqlite" else None
    assert done.status == "committed"
    assert seen == [((50_000, 20, 20), sqlite_cache)] * 3  # two batches and the finish
    assert (gc.get_threshold(), _cache_size()) == (threshold, cache)
    assert threshold != (50_000, 20, 20)
    assert cache != sqlite_cache or cache is None


def test_a_failing_batch_puts_the_settings_back(season, tariff, admin_user, monkeypatch):
    # given
    run = _run(season, admin_user)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    threshold, cache = gc.get_threshold(), _cache_size()

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "bills_write", broken)
    # when
    with pytest.raises(RuntimeError):
        runs.billing_run_process(run_id=run.pk)
    # then
    run.refresh_from_db()
    assert (run.status, run.processed) == ("failed", 0)
    assert (gc.get_threshold(), _cache_size()) == (threshold, cache)
