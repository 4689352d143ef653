import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.models import HeatingSeason
from heatdesk.billing.tests.factories import make_season, season_fields
from heatdesk.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db


def _state(season: HeatingSeason) -> tuple:
    row = HeatingSeason.objects.get(pk=season.pk)
    return (row.status, row.opened_at, row.closed_at)


def test_a_new_season_starts_in_draft_and_is_audited(admin_user):
    # when
    season = services.season_create(by=admin_user, **season_fields())
    # then
    row = HeatingSeason.objects.get(pk=season.pk)
    assert row.status == "draft"
    assert row.days == 121
    assert row.created_by == admin_user
    entry = AuditEntry.objects.get(action="billing.season_create")
    assert entry.actor == admin_user
    assert entry.object_id == str(season.pk)
    assert entry.after["code"] == "2026-2027"
    assert entry.after["late_fee_rate"] == "0.002000"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"code": "2026/27"}, "code"),
        ({"heating_end": dt.date(2026, 11, 14)}, "__all__"),
        ({"payment_due_date": dt.date(2026, 8, 31)}, "__all__"),
        ({"stop_apply_deadline": dt.date(2026, 11, 16)}, "__all__"),
        ({"early_discount_last_day": dt.date(2027, 1, 1)}, "__all__"),
        ({"early_discount_last_day": None}, "__all__"),
        ({"early_discount_rate": D("1.5")}, "__all__"),
        ({"late_fee_start_date": dt.date(2026, 12, 31)}, "__all__"),
        ({"late_fee_start_date": None}, "__all__"),
        ({"late_fee_rate": D(0)}, "__all__"),
        ({"late_fee_cap_ratio": D("-0.1")}, "__all__"),
    ],
    ids=[
        "code-format",
        "ends-before-start",
        "due-before-issue",
        "stop-deadline-after-start",
        "discount-after-due",
        "discount-without-day",
        "discount-over-100pct",
        "late-fee-on-due-day",
        "late-fee-without-start",
        "late-fee-zero-rate",
        "negative-cap",
    ],
)
def test_inconsistent_seasons_are_refused_and_nothing_is_saved(admin_user, overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        services.season_create(by=admin_user, **season_fields(**overrides))
    assert field in refused.value.fields
    assert all(message for message in refused.value.fields[field])
    assert HeatingSeason.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_season_messages_are_in_chinese(admin_user):
    with pytest.raises(ValidationFailed) as refused:
        services.season_create(by=admin_user, **season_fields(heating_end=dt.date(2026, 11, 1)))
    assert "供暖结束日不能早于供暖开始日。" in refused.value.fields["__all__"]


def test_a_season_without_late_fees_needs_no_rate(admin_user):
    season = services.season_create(
        by=admin_user,
        **season_fields(late_fee_kind="none", late_fee_rate=D(0), late_fee_start_date=None),
    )
    assert HeatingSeason.objects.get(pk=season.pk).late_fee_kind == "none"


def test_the_database_refuses_a_season_that_ends_before_it_starts():
    with pytest.raises(IntegrityError), transaction.atomic():
        HeatingSeason.objects.create(**season_fields(heating_end=dt.date(2026, 11, 1)))
    assert HeatingSeason.objects.count() == 0


def test_open_then_close_with_audit_rows(admin_user):
    season = make_season(status="draft")
    # when
    services.season_open(season=season, by=admin_user)
    opened = _state(season)
    services.season_close(season=season, by=admin_user)
    # then
    assert opened[0] == "open"
    assert opened[1] is not None
    row = HeatingSeason.objects.get(pk=season.pk)
    assert (row.status, row.opened_at) == ("closed", opened[1])
    assert row.closed_at is not None
    entries = list(AuditEntry.objects.order_by("id").values_list("action", "before", "after"))
    assert entries == [
        ("billing.season_open", {"status": "draft"}, {"status": "open"}),
        ("billing.season_close", {"status": "open"}, {"status": "closed", "late_fees_fixed": 0}),
    ]


@pytest.mark.parametrize(
    ("status", "move"),
    [
        ("draft", "season_close"),
        ("open", "season_open"),
        ("closed", "season_open"),
        ("closed", "season_close"),
    ],
)
def test_illegal_season_transitions_raise_and_change_nothing(admin_user, status, move):
    season = make_season(status=status)
    before = _state(season)
    with pytest.raises(Conflict) as refused:
        getattr(services, move)(season=season, by=admin_user)
    assert refused.value.code == "season_transition_invalid"
    assert _state(season) == before
    assert AuditEntry.objects.count() == 0


def test_a_stale_copy_cannot_reopen_a_closed_season(admin_user):
    season = make_season(status="draft")
    stale = HeatingSeason.objects.get(pk=season.pk)
    services.season_open(season=season, by=admin_user)
    services.season_close(season=season, by=admin_user)
    # when: the stale copy still says draft
    with pytest.raises(Conflict):
        services.season_open(season=stale, by=admin_user)
    # then
    assert HeatingSeason.objects.get(pk=season.pk).status == "closed"
    assert AuditEntry.objects.count() == 2


def test_a_move_lost_between_read_and_write_changes_nothing(admin_user, monkeypatch):
    # given: the service reads "draft", but another request opened the season meanwhile
    season = make_season(status="open")
    before = _state(season)
    monkeypatch.setattr(
        "heatdesk.billing.services.common.current_status", lambda model, pk: "draft"
    )
    # when
    with pytest.raises(Conflict) as refused:
        services.season_open(season=season, by=admin_user)
    # then: the compare-and-set found no draft row to update
    assert refused.value.message == "状态刚刚被他人修改，请刷新后重试。"
    assert _state(season) == before
    assert AuditEntry.objects.count() == 0


def test_a_draft_season_can_be_changed_with_an_audit_row(admin_user):
    season = make_season(status="draft")
    services.season_update(
        season=season, by=admin_user, heating_end=dt.date(2027, 3, 31), late_fee_rate=D("0.001")
    )
    row = HeatingSeason.objects.get(pk=season.pk)
    assert (row.heating_end, row.late_fee_rate, row.days) == (dt.date(2027, 3, 31), D("0.001"), 137)
    entry = AuditEntry.objects.get(action="billing.season_update")
    assert entry.before == {"heating_end": "2027-03-15", "late_fee_rate": "0.002000"}
    assert entry.after == {"heating_end": "2027-03-31", "late_fee_rate": "0.001000"}


@pytest.mark.parametrize("status", ["open", "closed"])
def test_an_open_or_closed_season_cannot_be_changed(admin_user, status):
    season = make_season(status=status)
    with pytest.raises(Conflict) as refused:
        services.season_update(season=season, by=admin_user, late_fee_rate=D("0.001"))
    assert refused.value.code == "season_not_draft"
    assert HeatingSeason.objects.get(pk=season.pk).late_fee_rate == D("0.002")
    assert AuditEntry.objects.count() == 0


def test_an_invalid_change_to_a_draft_season_is_refused(admin_user):
    season = make_season(status="draft")
    with pytest.raises(ValidationFailed):
        services.season_update(season=season, by=admin_user, heating_end=dt.date(2026, 1, 1))
    assert HeatingSeason.objects.get(pk=season.pk).heating_end == dt.date(2027, 3, 15)
    assert AuditEntry.objects.count() == 0
