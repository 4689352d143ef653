"""Periodic jobs: a tiny registry and a runner that the database keeps from colliding.

A job is a plain function that calls one service and is safe to run twice. Apps declare theirs
in a `periodic.py` module with `@periodic_job(name, every=…)`; `autodiscover()` imports those
modules and `heatdesk runperiodic` runs the jobs that are due (every minute from the embedded
runner, or from cron/systemd in production).

Each job has one `PeriodicJobState` row. A runner claims a due job with a compare-and-set
UPDATE that moves `next_run_at` one period ahead, so of any number of runners on any number of
machines exactly one starts the job in a period. A job whose last run has not finished is not
started again until `STALE_AFTER` has passed (its runner was killed mid-run).
"""

import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, Q
from django.utils.module_loading import autodiscover_modules

from heatdesk.core import clock, ratelimit

logger = logging.getLogger("heatdesk.periodic")

JobFunc = TypeVar("JobFunc", bound=Callable[[], object])

# A run that started this long ago and never finished is taken for dead, and the job may start
# again; jobs are idempotent, so the worst case is one job running twice.
STALE_AFTER = dt.timedelta(hours=1)
ERROR_MAX_CHARS = 4000


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: dt.timedelta
    func: Callable[[], object]


@dataclass(frozen=True)
class JobOutcome:
    name: str
    ok: bool
    result: object = None
    error: str = ""


_REGISTRY: dict[str, PeriodicJob] = {}


def periodic_job(name: str, *, every: dt.timedelta) -> Callable[[JobFunc], JobFunc]:
    """Register the decorated function as the job `name`, due once every `every`."""
    if every <= dt.timedelta(0):
        raise ImproperlyConfigured(f"periodic job {name!r} needs a positive interval")

    def register(func: JobFunc) -> JobFunc:
        existing = _REGISTRY.get(name)
        if existing is not None and _qualname(existing.func) != _qualname(func):
            raise ImproperlyConfigured(
                f"periodic job {name!r} is registered twice: "
                f"{_qualname(existing.func)} and {_qualname(func)}"
            )
        _REGISTRY[name] = PeriodicJob(name=name, every=every, func=func)
        return func

    return register


def _qualname(func: Callable[[], object]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def autodiscover() -> None:
    """Import every installed app's `periodic` module, so their jobs register."""
    autodiscover_modules("periodic")


def registered_jobs() -> list[PeriodicJob]:
    return sorted(_REGISTRY.values(), key=lambda job: job.name)


def job_claim(*, job: PeriodicJob, now: dt.datetime | None = None) -> bool:
    """Claim `job` if it is due and not running; True for exactly one of concurrent callers."""
    from heatdesk.core.models import PeriodicJobState

    now = now or clock.now()
    # A new job is due at once; the row exists before anyone tries to claim it.
    PeriodicJobState.objects.bulk_create(
        [PeriodicJobState(name=job.name, next_run_at=now)], ignore_conflicts=True
    )
    not_running = (
        Q(last_started_at=None)
        | Q(last_finished_at__gte=F("last_started_at"))
        | Q(last_started_at__lt=now - STALE_AFTER)
    )
    claimed = PeriodicJobState.objects.filter(
        not_running, name=job.name, next_run_at__lte=now
    ).update(next_run_at=now + job.every, last_started_at=now)
    return claimed == 1


def job_run(*, job: PeriodicJob) -> JobOutcome | None:
    """Run `job` if this caller wins its claim; None when it was not due or another runner has
    it. A failure is recorded in `last_error` and returned, never raised."""
    from heatdesk.core.models import PeriodicJobState

    if not job_claim(job=job):
        return None
    logger.debug("periodic job %s started", job.name)
    try:
        result = job.func()
    except Exception as exc:  # one failing job must not stop the others
        logger.exception("periodic job %s failed", job.name)
        error = traceback.format_exc()[-ERROR_MAX_CHARS:]
        PeriodicJobState.objects.filter(name=job.name).update(
            last_finished_at=clock.now(), last_error=error
        )
        return JobOutcome(name=job.name, ok=False, error=f"{type(exc).__name__}: {exc}")
    PeriodicJobState.objects.filter(name=job.name).update(
        last_finished_at=clock.now(), last_error=""
    )
    logger.debug("periodic job %s finished: %s", job.name, result)
    return JobOutcome(name=job.name, ok=True, result=result)


def jobs_run_due(*, jobs: Iterable[PeriodicJob] | None = None) -> list[JobOutcome]:
    """Run every due job (default: all registered ones) once; the outcomes of those that ran."""
    outcomes = []
    for job in registered_jobs() if jobs is None else jobs:
        outcome = job_run(job=job)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


# Core's own jobs (this module is also core's `periodic` module for autodiscover()).


@periodic_job("core.ratelimit_purge", every=dt.timedelta(minutes=10))
def ratelimit_purge() -> int:
    return ratelimit.purge_expired()
