"""Billing runs: a dry run that counts and finds anomalies and writes nothing, a commit in
batches that writes the same bills `bill_issue` would, idempotent reruns, resuming after a crash,
and the refusals that protect what was previewed."""

import datetime as dt
import re
from decimal import Decimal as D

import pytest
import time_machine
from django.core.management import call_command

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import bulk, services
from heatdesk.billing.models import Bill, BillingRun, BillLine, LedgerEntry, Tariff
from heatdesk.billing.selectors.runs import run_anomalies, run_totals
from heatdesk.billing.services import ledger, runs
from heatdesk.billing.tests.factories import (
    assert_account_consistent,
    make_season,
    make_tariff,
)
from heatdesk.core import clock
from heatdesk.core.errors import Conflict
from heatdesk.estates.models import Community
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(season, tariff, finance):
    """Eleven houses in two communities, one of each case a run meets ("billed" already has its
    bill for the season)."""
    east = Community.objects.create(code="E01", name="东区小区")
    west = Community.objects.create(code="W01", name="西区小区")
    make_tariff(season, usage_type="non_residential", area_price=D("40.00"))
    make_tariff(season, usage_type="non_residential", user_type="low_income", area_price=D("0"))
    houses = {
        "east_home": make_house(community=east, building_area=D("89.50")),
        "west_home": make_house(community=west, building_area=D("100.00")),
        "east_shop": make_house(
            community=east, building_area=D("120.00"), usage_type="non_residential"
        ),
        "no_tariff": make_house(community=east, user_type="low_income"),
        "no_area": make_house(community=west, building_area=D("0")),
        "disconnected": make_house(community=west, heating_status="disconnected"),
        "meter_1": make_house(community=west, building_area=D("50.00"), meter_id="M-1"),
        "meter_2": make_house(community=west, building_area=D("50.00"), meter_id="M-1"),
        "stopped": make_house(community=east, building_area=D("80.00"), heating_status="stopped"),
        "billed": make_house(community=west, building_area=D("60.00")),
        "zero": make_house(community=east, usage_type="non_residential", user_type="low_income"),
    }
    services.bill_issue(house=houses["billed"], season=season, issued_by=finance)
    return houses


BILLED = ["east_home", "west_home", "east_shop", "meter_1", "meter_2", "stopped"]
AMOUNT = 223750 + 250000 + 480000 + 125000 + 125000 + 60000


def preview(season, by, batch_size=3) -> BillingRun:
    run = runs.billing_run_start(season=season, by=by, batch_size=batch_size, background=False)
    return runs.billing_run_process(run_id=run.pk)


def commit(run, by) -> BillingRun:
    runs.billing_run_commit(run=run, by=by, background=False)
    return runs.billing_run_process(run_id=run.pk)


def bill_picture(bill: Bill) -> tuple:
    """What a bill says, without ids and times: to compare bills made different ways."""
    lines = BillLine.objects.filter(bill=bill).order_by("id")
    return (
        bill.status,
        bill.total_fen,
        bill.area,
        bill.tariff_version,
        bill.heating_status,
        [
            (
                line.kind,
                line.amount_fen,
                line.explanation,
                line.quantity,
                line.unit_price,
                line.ratio,
                line.period_from,
                line.period_to,
            )
            for line in lines
        ],
    )


def test_a_dry_run_counts_and_finds_anomalies_and_writes_nothing(season, city, admin_user):
    bills, entries = Bill.objects.count(), LedgerEntry.objects.count()
    # when
    run = preview(season, admin_user)
    # then
    assert (run.status, run.processed, run.total) == ("previewed", 11, 11)
    assert run.preview["counts"] == {
        "houses": 11,
        "bills": 6,
        "amount_fen": AMOUNT,
        "existing": 1,
        "excluded": 1,
        "no_tariff": 1,
        "no_area": 1,
        "zero_amount": 1,
        "duplicate_meter": 2,
    }
    assert [
        (r["community"], r["usage_type"], r["houses"], r["amount_fen"]) for r in run_totals(run=run)
    ] == [
        ("东区小区", "non_residential", 1, 480000),
        ("东区小区", "residential", 2, 223750 + 60000),
        ("西区小区", "residential", 3, 250000 + 125000 + 125000),
    ]
    found = {a["kind"]: [s["account_no"] for s in a["samples"]] for a in run_anomalies(run=run)}
    assert found == {
        "no_area": [city["no_area"].account_no],
        "no_tariff": [city["no_tariff"].account_no],
        "zero_amount": [city["zero"].account_no],
        "duplicate_meter": [city["meter_1"].account_no, city["meter_2"].account_no],
    }
    assert (Bill.objects.count(), LedgerEntry.objects.count()) == (bills, entries)
    assert run.duplicate_meters == ["M-1"]


def test_a_commit_writes_the_bills_bill_issue_would_and_posts_their_charges(
    season, city, admin_user, finance
):
    run = preview(season, admin_user)
    # when
    run = commit(run, admin_user)
    # then
    assert run.status == "committed"
    assert run.result["counts"]["bills"] == 6
    assert run.result["counts"]["amount_fen"] == AMOUNT
    made = {b.house_id: b for b in Bill.objects.filter(run=run)}
    assert sorted(made) == sorted(city[name].pk for name in BILLED)
    for name in BILLED:
        house = city[name]
        bill = made[house.pk]
        expected = services.bill_calculate(house=house, season=season)
        assert [(x.kind, x.amount_fen, x.explanation) for x in expected] == [
            (line.kind, line.amount_fen, line.explanation)
            for line in BillLine.objects.filter(bill=bill).order_by("id")
        ]
        assert (bill.status, bill.issued_by, bill.total_fen) == (
            "issued",
            admin_user,
            sum(x.amount_fen for x in expected),
        )
        assert re.fullmatch(r"bl_[0-9A-HJKMNP-TV-Z]{16}", bill.public_id)
        charge = LedgerEntry.objects.get(bill=bill)
        assert (charge.kind, charge.amount_fen) == ("charge", bill.total_fen)
        assert charge.explanation == f"2026-2027采暖季热费（账单 {bill.public_id}）"
        assert assert_account_consistent(house) == bill.total_fen
    # and the bill matches one issued by hand for an identical house
    twin = make_house(building_area=D("89.50"))
    by_hand = services.bill_issue(house=twin, season=season, issued_by=finance)
    assert bill_picture(made[city["east_home"].pk])[:-1] == bill_picture(by_hand)[:-1]
    assert [line[:2] + line[3:] for line in bill_picture(made[city["east_home"].pk])[-1]] == [
        line[:2] + line[3:] for line in bill_picture(by_hand)[-1]
    ]
    audited = AuditEntry.objects.filter(object_type="billing.billingrun", object_id=str(run.pk))
    assert [a.action for a in audited.order_by("id")] == [
        "billing.run_start",
        "billing.run_commit",
        "billing.run_committed",
    ]


def test_a_second_run_bills_only_houses_added_since(season, city, admin_user):
    first = preview(season, admin_user)
    later = make_house(building_area=D("70.00"))  # after the first run started
    first = commit(first, admin_user)
    assert not Bill.objects.filter(house=later).exists()
    before = set(Bill.objects.values_list("pk", flat=True))
    # when
    second = commit(preview(season, admin_user), admin_user)
    # then
    assert second.result["counts"]["bills"] == 1
    assert second.result["counts"]["existing"] == 7
    new = set(Bill.objects.values_list("pk", flat=True)) - before
    assert [Bill.objects.get(pk=pk).house_id for pk in new] == [later.pk]
    assert Bill.objects.filter(house=later).get().total_fen == 175000


class Crash(BaseException):
    """A process dying: not an error the run could catch and record."""


def test_a_run_killed_mid_batch_resumes_to_the_same_bills_as_an_uninterrupted_one(
    season, city, admin_user, monkeypatch
):
    # given: an identical season billed without interruption
    twin_season = make_season(code="2036-2037")
    make_tariff(twin_season, area_price=D("25.00"))
    make_tariff(twin_season, usage_type="non_residential", area_price=D("40.00"))
    make_tariff(
        twin_season, usage_type="non_residential", user_type="low_income", area_price=D("0")
    )
    commit(preview(twin_season, admin_user), admin_user)
    # when: the run dies while writing its second batch, after the bills went in
    run = preview(season, admin_user, batch_size=3)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    real_write = bulk.bills_write
    writes = []

    def dies_on_second_batch(**kwargs):
        written = real_write(**kwargs)
        writes.append(written)
        if len(writes) == 2:
            raise Crash
        return written

    monkeypatch.setattr(bulk, "bills_write", dies_on_second_batch)
    with pytest.raises(Crash):
        runs.billing_run_process(run_id=run.pk)
    # then: the first batch is whole, the second left nothing behind
    run.refresh_from_db()
    first_batch = sorted(h.pk for h in city.values())[:3]
    assert (run.status, run.processed, run.cursor) == ("committing", 3, first_batch[-1])
    kept = Bill.objects.filter(season=season, run=run)
    assert sorted(kept.values_list("house_id", flat=True)) == sorted(writes[0])
    assert all(BillLine.objects.filter(bill=b).exists() for b in kept)
    assert LedgerEntry.objects.filter(bill__in=kept).count() == kept.count()
    # when: processing again
    monkeypatch.setattr(bulk, "bills_write", real_write)
    run = runs.billing_run_process(run_id=run.pk)
    # then
    assert run.status == "committed"
    ours = {b.house_id: bill_picture(b) for b in Bill.objects.filter(season=season, run=run)}
    theirs = {
        b.house_id: bill_picture(b)
        for b in Bill.objects.filter(season=twin_season).exclude(house=city["billed"])
    }
    assert ours == theirs
    assert len(ours) == 6
    assert run.result["counts"]["bills"] == 6


def test_commit_needs_a_finished_preview(season, city, admin_user):
    run = runs.billing_run_start(season=season, by=admin_user, background=False)
    with pytest.raises(Conflict) as refused:
        runs.billing_run_commit(run=run, by=admin_user, background=False)
    assert refused.value.code == "run_not_previewed"
    assert BillingRun.objects.get(pk=run.pk).status == "previewing"
    assert Bill.objects.count() == 1


def test_commit_after_a_price_change_is_refused(season, city, admin_user):
    run = preview(season, admin_user)
    shops = Tariff.objects.get(season=season, usage_type="non_residential", user_type="normal")
    services.tariff_update(tariff=shops, by=admin_user, area_price=D("41.00"))
    with pytest.raises(Conflict) as refused:
        runs.billing_run_commit(run=run, by=admin_user, background=False)
    assert refused.value.code == "run_stale"
    assert BillingRun.objects.get(pk=run.pk).status == "previewed"
    assert Bill.objects.count() == 1
    assert Tariff.objects.get(pk=shops.pk).in_use_since is None


def test_a_new_price_version_mid_run_pauses_it_as_failed(season, city, tariff, admin_user):
    run = preview(season, admin_user, batch_size=3)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    assert runs.billing_run_step(run_id=run.pk)
    made = Bill.objects.count()
    services.tariff_new_version(tariff=tariff, by=admin_user, area_price=D("26.00"))
    # when
    run = runs.billing_run_process(run_id=run.pk)
    # then
    assert (run.status, run.processed) == ("failed", 3)
    assert "热价有了新版本" in run.error
    assert Bill.objects.count() == made
    # resuming fails the same way: these prices were never previewed
    runs.billing_run_resume(run=run, by=admin_user, background=False)
    run = runs.billing_run_process(run_id=run.pk)
    assert (run.status, run.processed, Bill.objects.count()) == ("failed", 3, made)


def test_one_committing_run_per_season(season, city, admin_user):
    first = preview(season, admin_user)
    second = preview(season, admin_user)
    runs.billing_run_commit(run=first, by=admin_user, background=False)
    with pytest.raises(Conflict) as refused:
        runs.billing_run_commit(run=second, by=admin_user, background=False)
    assert refused.value.code == "run_in_progress"
    assert BillingRun.objects.get(pk=second.pk).status == "previewed"
    # once the first is done, the second may commit, and writes nothing twice
    runs.billing_run_process(run_id=first.pk)
    second = commit(second, admin_user)
    assert (second.status, second.result["counts"].get("bills", 0)) == ("committed", 0)
    assert Bill.objects.count() == 7


def test_commit_needs_an_open_season(city, admin_user):
    draft = make_season(code="2040-2041", status="draft")
    make_tariff(draft)
    run = preview(draft, admin_user)
    assert run.status == "previewed"  # a draft season can be previewed
    with pytest.raises(Conflict) as refused:
        runs.billing_run_commit(run=run, by=admin_user, background=False)
    assert refused.value.code == "season_not_open"
    assert not Bill.objects.filter(season=draft).exists()


def test_a_cancelled_run_stops_and_keeps_the_bills_it_wrote(season, city, admin_user):
    run = preview(season, admin_user, batch_size=3)
    runs.billing_run_commit(run=run, by=admin_user, background=False)
    runs.billing_run_step(run_id=run.pk)
    made = Bill.objects.count()
    # when
    runs.billing_run_cancel(run=run, by=admin_user, reason="数据有误")
    # then
    assert runs.billing_run_step(run_id=run.pk) is False
    assert Bill.objects.count() == made
    assert BillingRun.objects.get(pk=run.pk).status == "cancelled"


def test_credit_on_the_account_pays_the_new_bill_in_the_run(season, city, admin_user):
    home = city["east_home"]
    ledger.ledger_post_payment(
        house=home, amount_fen=100000, source="counter", source_id="PRE-1"
    )  # paid before any bill: all credit
    # when
    commit(preview(season, admin_user), admin_user)
    # then
    bill = Bill.objects.get(house=home, season=season)
    assert (bill.status, bill.paid_fen) == ("partially_paid", 100000)
    assert assert_account_consistent(home) == 223750 - 100000


def test_the_task_and_the_command_run_it_end_to_end(
    season, city, admin_user, django_capture_on_commit_callbacks, capsys
):
    # the admin/API path: the work is queued after commit and done by the task
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.billing_run_start(season=season, by=admin_user)
    assert BillingRun.objects.get(pk=run.pk).status == "previewed"
    # the shell path: a dry run, then a commit with a progress bar
    call_command("billing_run", season.code, "--dry-run", "--batch-size", "4")
    out = capsys.readouterr().out
    dry = BillingRun.objects.order_by("-id").first()
    assert f"--commit {dry.public_id}" in out
    assert "[##############################] 100%  11/11 户  可开账 6" in out
    assert "无计费面积（不开账）：1" in out
    assert not Bill.objects.filter(run=dry).exists()
    call_command("billing_run", season.code, "--commit", dry.public_id, "--user", "admin1")
    out = capsys.readouterr().out
    assert "已开账 6" in out
    assert "状态：已完成" in out
    assert Bill.objects.filter(run=dry, issued_by=admin_user).count() == 6
    assert Bill.objects.count() == 7


def test_a_run_whose_worker_died_is_queued_again_by_the_periodic_job(season, city, admin_user):
    from heatdesk.billing.periodic import runs_resume_stale

    run = runs.billing_run_start(season=season, by=admin_user, batch_size=3, background=False)
    runs.billing_run_step(run_id=run.pk)  # the worker did one batch, then died
    fresh = runs.billing_run_start(season=season, by=admin_user, background=False)
    with time_machine.travel(dt.timedelta(minutes=11)):
        # when: another worker is still busy with `fresh`, but `run` is silent for 11 minutes
        BillingRun.objects.filter(pk=fresh.pk).update(heartbeat_at=clock.now())
        queued = runs_resume_stale()
    # then: only the silent run was queued (and the test backend ran it at once)
    assert queued == 1
    assert BillingRun.objects.get(pk=run.pk).status == "previewed"
    assert BillingRun.objects.get(pk=fresh.pk).status == "previewing"
