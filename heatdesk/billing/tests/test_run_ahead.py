"""Billing runs that plan the next batch in a thread while the current one is written: the same
bills, lines and ledger as a run that plans each batch in turn; a crash in the middle resumes
to the same result; and a house changed after it was planned is billed as it is now.

The thread has its own connection, so these tests commit (`shared_database`)."""

import threading
from decimal import Decimal as D
from typing import Any

import pytest

from heatdesk.billing import bulk, run_ahead
from heatdesk.billing.models import Bill, BillingRun, BillLine, LedgerEntry
from heatdesk.billing.services import runs
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.estates.models import House
from heatdesk.testing import make_house, make_staff

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 3
MAIN = threading.main_thread().name


def _season(code: str) -> Any:
    season = make_season(code=code)
    make_tariff(season, area_price=D("25.00"))
    make_tariff(season, usage_type="non_residential", area_price=D("40.00"))
    return season


def _houses() -> list[House]:
    """Ten houses of every kind a run meets, in id order."""
    kinds = [
        {"building_area": D("89.50")},
        {"building_area": D("120.00"), "usage_type": "non_residential"},
        {"building_area": D("80.00"), "heating_status": "stopped"},
        {"building_area": D("0")},
        {"building_area": D("70.00"), "heating_status": "disconnected"},
        {"building_area": D("66.66")},
        {"building_area": D("50.00"), "user_type": "low_income"},
        {"building_area": D("101.01")},
        {"building_area": D("99.99"), "heating_status": "stopped"},
        {"building_area": D("45.45")},
    ]
    return [make_house(**fields) for fields in kinds]


def _run(season: Any, by: Any, *, read_ahead: bool) -> BillingRun:
    run = runs.billing_run_start(season=season, by=by, batch_size=BATCH, background=False)
    runs.billing_run_process(run_id=run.pk, read_ahead=read_ahead)
    runs.billing_run_commit(run=run, by=by, background=False)
    return runs.billing_run_process(run_id=run.pk, read_ahead=read_ahead)


def _picture(season: Any) -> dict[int, tuple[Any, ...]]:
    """Every bill of the season by house: what it says, its lines and its ledger charge."""
    picture = {}
    for bill in Bill.objects.filter(season=season):
        lines = BillLine.objects.filter(bill=bill).order_by("id")
        entries = LedgerEntry.objects.filter(bill=bill).order_by("id")
        picture[bill.house_id] = (
            bill.status,
            bill.total_fen,
            bill.area,
            bill.usage_type,
            bill.heating_status,
            [
                (line.kind, line.amount_fen, line.quantity, line.unit_price, line.explanation)
                for line in lines
            ],
            [
                (
                    e.kind,
                    e.amount_fen,
                    e.explanation.replace(bill.public_id, "ID").replace(season.code, "SEASON"),
                )
                for e in entries
            ],
        )
    return picture


@pytest.fixture
def planners(monkeypatch):
    """The names of the threads that planned each batch."""
    names: list[str] = []
    real = run_ahead.plan_batch

    def recording(**kwargs: Any) -> Any:
        names.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr(run_ahead, "plan_batch", recording)
    return names


def test_a_run_planned_ahead_writes_what_a_run_planned_in_turn_writes(shared_database, planners):
    # given: the same houses, billed for two seasons with the same prices
    houses = _houses()
    by = make_staff("runner", "admin")
    in_turn, ahead = _season("2026-2027"), _season("2036-2037")
    # when
    first = _run(in_turn, by, read_ahead=False)
    planned_in_turn = list(planners)
    planners.clear()
    second = _run(ahead, by, read_ahead=True)
    # then: every batch of the second run was planned by the thread, none by the writer
    assert planned_in_turn == [MAIN] * 8  # 4 batches previewed, 4 committed
    assert len(planners) == 8
    assert MAIN not in planners
    assert _picture(in_turn) == _picture(ahead)
    assert len(_picture(ahead)) == 7  # no area, disconnected and no tariff are not billed
    assert first.result["counts"] == second.result["counts"]
    assert first.preview == second.preview
    assert (second.status, second.processed, second.cursor) == ("committed", 10, houses[-1].pk)


class Crash(BaseException):
    """A process dying: not an error the run could catch and record."""


def test_a_run_planned_ahead_killed_mid_batch_resumes_to_the_same_bills(
    shared_database, monkeypatch
):
    # given: an uninterrupted run of a twin season
    houses = _houses()
    by = make_staff("runner", "admin")
    twin, season = _season("2036-2037"), _season("2026-2027")
    _run(twin, by, read_ahead=False)
    run = runs.billing_run_start(season=season, by=by, batch_size=BATCH, background=False)
    runs.billing_run_process(run_id=run.pk, read_ahead=True)
    runs.billing_run_commit(run=run, by=by, background=False)
    # when: the process dies writing its second batch, with the third planned ahead
    real_write = bulk.bills_write
    writes: list[set[int]] = []

    def dies_on_second_batch(**kwargs: Any) -> set[int]:
        written = real_write(**kwargs)
        writes.append(written)
        if len(writes) == 2:
            raise Crash
        return written

    monkeypatch.setattr(bulk, "bills_write", dies_on_second_batch)
    with pytest.raises(Crash):
        runs.billing_run_process(run_id=run.pk, read_ahead=True)
    # then: the first batch is whole, the second left nothing behind
    run.refresh_from_db()
    assert (run.status, run.processed, run.cursor) == ("committing", 3, houses[2].pk)
    kept = Bill.objects.filter(season=season)
    assert sorted(kept.values_list("house_id", flat=True)) == sorted(writes[0])
    assert LedgerEntry.objects.filter(bill__season=season).count() == kept.count() == 3
    assert BillLine.objects.filter(bill__season=season).count() == 3
    # when: processing again
    monkeypatch.setattr(bulk, "bills_write", real_write)
    run = runs.billing_run_process(run_id=run.pk, read_ahead=True)
    # then
    assert run.status == "committed"
    assert _picture(season) == _picture(twin)
    assert run.result["counts"]["bills"] == 7


def test_a_house_changed_after_it_was_planned_is_billed_as_it_is_now(shared_database, monkeypatch):
    # given: a run whose thread, right after planning the second batch, sees the area of one
    # of its houses corrected (as staff would, between the read ahead and the batch's lock)
    houses = _houses()
    by = make_staff("runner", "admin")
    season = _season("2026-2027")
    run = runs.billing_run_start(season=season, by=by, batch_size=BATCH, background=False)
    runs.billing_run_process(run_id=run.pk, read_ahead=False)
    runs.billing_run_commit(run=run, by=by, background=False)
    changed = houses[5]  # 66.66 ㎡, in the second batch
    real_plan = run_ahead.plan_batch
    planned_with: list[D] = []

    def plan_then_change(**kwargs: Any) -> Any:
        answer = real_plan(**kwargs)
        ids = [house.id for house in kwargs["houses"]]
        on_thread = threading.current_thread().name != MAIN
        if on_thread and changed.pk in ids and not planned_with:
            planned_with.extend(h.building_area for h in kwargs["houses"] if h.id == changed.pk)
            House.objects.filter(pk=changed.pk).update(building_area=D("77.00"))
        return answer

    monkeypatch.setattr(run_ahead, "plan_batch", plan_then_change)
    # when
    run = runs.billing_run_process(run_id=run.pk, read_ahead=True)
    # then: the plan made from the old area was not used; the bill has the area of now
    assert planned_with == [D("66.66")]
    assert run.status == "committed"
    bill = Bill.objects.get(season=season, house=changed)
    assert (bill.area, bill.total_fen) == (D("77.00"), 192500)  # 77.00 ㎡ × 25.00 元
    assert LedgerEntry.objects.get(bill=bill).amount_fen == 192500
    assert run.result["counts"]["bills"] == 7
