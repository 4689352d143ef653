import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from heatdesk.accounts.models import ApiToken, SmsCode
from heatdesk.accounts.services import phone_hash, token_issue
from heatdesk.core import periodic
from heatdesk.core.models import PeriodicJobState, RateCounter
from heatdesk.notifications.models import OutboundSms
from heatdesk.sandbox.models import SandboxSms
from heatdesk.testing import make_resident

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def counting_job(calls: list[str], name: str = "test.count", minutes: int = 5):
    return periodic.PeriodicJob(
        name=name, every=dt.timedelta(minutes=minutes), func=lambda: calls.append(name)
    )


@pytest.mark.django_db
def test_due_job_runs_once_and_not_again_before_its_interval():
    calls: list[str] = []
    job = counting_job(calls)

    with time_machine.travel(T0, tick=False):
        first = periodic.jobs_run_due(jobs=[job])
        second = periodic.jobs_run_due(jobs=[job])
    with time_machine.travel(T0 + dt.timedelta(minutes=4, seconds=59), tick=False):
        early = periodic.jobs_run_due(jobs=[job])
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        due_again = periodic.jobs_run_due(jobs=[job])

    assert [o.name for o in first] == ["test.count"]
    assert first[0].ok
    assert second == []
    assert early == []
    assert [o.name for o in due_again] == ["test.count"]
    assert calls == ["test.count", "test.count"]
    state = PeriodicJobState.objects.get(name="test.count")
    assert state.last_started_at == T0 + dt.timedelta(minutes=5)
    assert state.last_finished_at == T0 + dt.timedelta(minutes=5)
    assert state.next_run_at == T0 + dt.timedelta(minutes=10)
    assert state.last_error == ""


@pytest.mark.django_db
def test_two_claims_of_the_same_job_in_a_row_only_the_first_wins():
    job = counting_job([])

    with time_machine.travel(T0, tick=False):
        first = periodic.job_claim(job=job)
        second = periodic.job_claim(job=job)

    assert (first, second) == (True, False)
    state = PeriodicJobState.objects.get(name="test.count")
    assert state.last_started_at == T0
    assert state.next_run_at == T0 + dt.timedelta(minutes=5)
    assert state.last_finished_at is None


@pytest.mark.django_db
def test_a_job_still_running_is_not_claimed_again_until_its_run_is_stale():
    job = counting_job([], minutes=1)
    with time_machine.travel(T0, tick=False):
        assert periodic.job_claim(job=job)  # its runner never finishes (killed mid-run)

    with time_machine.travel(T0 + dt.timedelta(minutes=30), tick=False):
        while_running = periodic.job_claim(job=job)
    with time_machine.travel(T0 + periodic.STALE_AFTER + dt.timedelta(seconds=1), tick=False):
        after_stale = periodic.job_claim(job=job)

    assert while_running is False
    assert after_stale is True
    state = PeriodicJobState.objects.get(name="test.count")
    assert state.last_started_at == T0 + periodic.STALE_AFTER + dt.timedelta(seconds=1)


@pytest.mark.django_db
def test_a_failing_job_records_its_error_and_does_not_stop_the_others():
    calls: list[str] = []

    def explode() -> None:
        raise RuntimeError("provider unreachable")

    failing = periodic.PeriodicJob(name="test.fail", every=dt.timedelta(minutes=5), func=explode)
    fine = counting_job(calls, name="test.fine")

    with time_machine.travel(T0, tick=False):
        outcomes = periodic.jobs_run_due(jobs=[failing, fine])

    assert [(o.name, o.ok) for o in outcomes] == [("test.fail", False), ("test.fine", True)]
    assert outcomes[0].error == "RuntimeError: provider unreachable"
    assert calls == ["test.fine"]
    failed = PeriodicJobState.objects.get(name="test.fail")
    assert "RuntimeError: provider unreachable" in failed.last_error
    assert failed.last_finished_at == T0
    # A failed job waits for its next period like any other, and a success clears the error.
    assert failed.next_run_at == T0 + dt.timedelta(minutes=5)
    assert PeriodicJobState.objects.get(name="test.fine").last_error == ""

    recovered = periodic.PeriodicJob(
        name="test.fail", every=dt.timedelta(minutes=5), func=lambda: 0
    )
    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        periodic.jobs_run_due(jobs=[recovered])
    assert PeriodicJobState.objects.get(name="test.fail").last_error == ""


def test_every_app_job_is_discovered():
    periodic.autodiscover()

    names = {job.name for job in periodic.registered_jobs()}

    assert {
        "core.ratelimit_purge",
        "accounts.sms_codes_purge",
        "accounts.api_tokens_purge",
        "notifications.sms_requeue_stuck",
    } <= names


def test_registering_another_function_under_a_taken_name_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @periodic.periodic_job("core.ratelimit_purge", every=dt.timedelta(minutes=1))
        def impostor() -> None:
            return None

    job = {j.name: j for j in periodic.registered_jobs()}["core.ratelimit_purge"]
    assert job.func is periodic.ratelimit_purge


@pytest.mark.django_db
def test_runperiodic_runs_the_registered_jobs_once_per_period():
    # given: dead and live rows for every job
    now = T0
    with time_machine.travel(now - dt.timedelta(days=32), tick=False):
        old_token = token_issue(user=make_resident("13812340001"), ttl_hours=24)
    with time_machine.travel(now - dt.timedelta(days=3), tick=False):
        lately_expired = token_issue(user=make_resident("13812340002"), ttl_hours=24)
        live_token = token_issue(user=make_resident("13812340002"))
    RateCounter.objects.create(key="old", count=3, expires_at=now - dt.timedelta(seconds=1))
    RateCounter.objects.create(key="live", count=1, expires_at=now + dt.timedelta(minutes=5))
    digest = phone_hash("13812340003")
    old_code = SmsCode.objects.create(
        phone_hash=digest, purpose="login", code_hash="x", expires_at=now - dt.timedelta(days=2)
    )
    recent_code = SmsCode.objects.create(
        phone_hash=digest, purpose="login", code_hash="y", expires_at=now - dt.timedelta(hours=1)
    )
    stuck = OutboundSms.objects.create(
        phone="13812340004",
        phone_hash=phone_hash("13812340004"),
        template="login_code",
        params_json='{"code": "123456"}',
    )
    fresh = OutboundSms.objects.create(
        phone="13812340005",
        phone_hash=phone_hash("13812340005"),
        template="login_code",
        params_json='{"code": "654321"}',
    )
    OutboundSms.objects.filter(pk=stuck.pk).update(created_at=now - dt.timedelta(minutes=3))
    OutboundSms.objects.filter(pk=fresh.pk).update(created_at=now - dt.timedelta(seconds=30))
    out = io.StringIO()

    # when
    with time_machine.travel(now, tick=False):
        call_command("runperiodic", stdout=out)
        again = io.StringIO()
        call_command("runperiodic", stdout=again)

    # then
    assert "已运行 notifications.sms_requeue_stuck：1" in out.getvalue()
    assert "已运行 core.ratelimit_purge：1" in out.getvalue()
    assert again.getvalue() == ""
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["live"]
    assert set(SmsCode.objects.values_list("pk", flat=True)) == {recent_code.pk}
    assert not SmsCode.objects.filter(pk=old_code.pk).exists()
    prefixes = set(ApiToken.objects.values_list("prefix", flat=True))
    assert prefixes == {live_token[:10], lately_expired[:10]}
    assert old_token[:10] not in prefixes
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.status == OutboundSms.Status.SENT
    assert fresh.status == OutboundSms.Status.QUEUED
    assert list(SandboxSms.objects.values_list("phone", flat=True)) == ["13812340004"]
    states = {s.name: s for s in PeriodicJobState.objects.all()}
    assert states["notifications.sms_requeue_stuck"].next_run_at == now + dt.timedelta(minutes=1)
    assert states["accounts.api_tokens_purge"].next_run_at == now + dt.timedelta(hours=6)


@pytest.mark.django_db
def test_runperiodic_fails_when_a_job_failed_after_running_the_rest(monkeypatch):
    calls: list[str] = []

    def explode() -> None:
        raise ValueError("bad row")

    monkeypatch.setattr(
        periodic,
        "_REGISTRY",
        {
            "test.fail": periodic.PeriodicJob("test.fail", dt.timedelta(minutes=1), explode),
            "test.fine": counting_job(calls, name="test.fine"),
        },
    )
    err = io.StringIO()

    with pytest.raises(CommandError, match=r"定时任务失败：test\.fail"):
        call_command("runperiodic", stdout=io.StringIO(), stderr=err)

    assert calls == ["test.fine"]
    assert "失败 test.fail：ValueError: bad row" in err.getvalue()
    assert "ValueError: bad row" in PeriodicJobState.objects.get(name="test.fail").last_error
