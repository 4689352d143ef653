"""Data of the resident-pages scenario, run in the bench environment by bench.run:

    python -m bench.scenarios.resident_pages_data prepare --workdir DIR
    python -m bench.scenarios.resident_pages_data verify --workdir DIR

`prepare` takes the first seeded residents (a verified phone, current consent, 1–3 bound
houses) and gives each one's first house an issued bill for the open season (the one another
scenario opened, or one opened here with its tariffs) and a booked repair visit, then signs each
resident in the way the login view does (`django.contrib.auth.login` into a database session,
through Django's test client `force_login`, since the bench sends no SMS) and writes
`resident-pages.txt`: one `cookie<TAB>path` line per page per resident, for the Lua script.

`verify` reads the Lua script's tally (`resident-pages.tally`: answers 200 and other) and fails
if any answer during the load was not 200 — a redirect to the login page is a fast wrong answer.
It prints one `VERIFY ok …` or `VERIFY FAIL …` line.

Django is imported inside the functions: the scenario registry imports this module too.
"""

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from bench.seed import season_open_with_tariffs

PAGES_FILE = "resident-pages.txt"
TALLY_FILE = "resident-pages.tally"  # "ok other", added to by every wrk run
RESIDENTS = 20
SERVICE = "bench-pages-repair"
PAGE_NAMES = (
    "home",
    "house",
    "bills",
    "bill",
    "pay",
    "bookings",
    "booking-new",
    "pay-records",
)


def _open_season() -> Any:
    """The open season, or a new one with the tariffs of the seeded city's house kinds."""
    from heatdesk.billing.models import HeatingSeason

    season = HeatingSeason.objects.filter(status=HeatingSeason.Status.OPEN).first()
    if season is not None:
        return season
    return season_open_with_tariffs()


def _repair_service(communities: list[Any]) -> Any:
    """A repair visit served by one team in the residents' 小区, Mon–Fri office hours."""
    from heatdesk.bookings.models import Resource, Service, WorkingHours

    team = Resource.objects.create(
        code="bench-pages-team", name="压测维修班", kind=Resource.Kind.TEAM
    )
    team.communities.set(communities)
    WorkingHours.objects.bulk_create(
        WorkingHours(resource=team, weekday=w, starts=s, ends=e)
        for w in range(5)
        for s, e in ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))
    )
    service = Service.objects.create(
        code=SERVICE,
        name="上门维修",
        kind=Service.Kind.VISIT,
        duration_minutes=60,
        slot_interval_minutes=30,
        min_notice_minutes=120,
        max_days_ahead=14,
        requires_house=True,
        max_active_per_house=2,
    )
    service.resources.set([team])
    return service


def _book(*, service: Any, user: Any, house: Any) -> Any:
    """The first free 09:00–16:00 start from the day after tomorrow, booked by the resident."""
    from heatdesk.bookings.services import booking_create
    from heatdesk.core import clock
    from heatdesk.core.errors import ApplicationError

    day = clock.local_today() + dt.timedelta(days=2)
    for offset in range(10):
        date = day + dt.timedelta(days=offset)
        if date.weekday() >= 5:
            continue
        for hour in (9, 10, 14, 15, 16):
            starts = dt.datetime.combine(date, dt.time(hour), tzinfo=clock.SHANGHAI)
            try:
                booking, _ = booking_create(
                    service=service, starts_at=starts, created_by=user, resident=user, house=house
                )
            except ApplicationError:
                continue
            return booking
    raise SystemExit(f"no free repair slot for resident {user.pk}")


def prepare(workdir: Path) -> str:
    from django.conf import settings
    from django.test import Client

    from heatdesk.accounts.models import User
    from heatdesk.billing.services import bill_issue
    from heatdesk.estates.models import HouseBinding

    season = _open_season()
    residents = list(
        User.objects.filter(phone_verified_at__isnull=False, house_bindings__ended_at__isnull=True)
        .distinct()
        .order_by("pk")[:RESIDENTS]
    )
    firsts = []
    for user in residents:
        binding = (
            HouseBinding.objects.filter(user=user, ended_at__isnull=True)
            .select_related("house__unit__building")
            .order_by("pk")
            .first()
        )
        assert binding is not None
        firsts.append(binding.house)
    service = _repair_service(list({h.unit.building.community for h in firsts}))
    lines = []
    for user, house in zip(residents, firsts, strict=True):
        bill = bill_issue(house=house, season=season, issued_by=None)
        _book(service=service, user=user, house=house)
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        cookie = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        h = f"/m/houses/{house.public_id}/"
        paths = (
            "/m/",
            h,
            f"{h}bills/",
            f"{h}bills/{bill.public_id}/",
            f"{h}bills/{bill.public_id}/pay/",
            "/m/bookings/",
            "/m/bookings/new/",
            "/m/pay/records/",
        )
        lines += [f"{cookie}\t{name}\t{path}" for name, path in zip(PAGE_NAMES, paths, strict=True)]
    (workdir / PAGES_FILE).write_text("\n".join(lines) + "\n")
    (workdir / TALLY_FILE).write_text("0 0\n")
    return f"{len(residents)} signed-in residents, {len(lines)} pages, season {season.code}"


def tally(workdir: Path) -> tuple[int, int]:
    ok, other = (int(x) for x in (workdir / TALLY_FILE).read_text().split())
    return ok, other


def verify(workdir: Path) -> str:
    ok, other = tally(workdir)
    if other or not ok:
        return f"FAIL {other} answers other than 200 (a login redirect counts), {ok} pages 200"
    return f"ok {ok:,} pages answered 200, no redirect or error"


def main() -> None:
    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["prepare", "verify"])
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    django.setup()
    if args.action == "prepare":
        print(f"PREPARED {prepare(args.workdir)}")  # noqa: T201 - read by bench.run
    else:
        print(f"VERIFY {verify(args.workdir)}")  # noqa: T201 - read by bench.run


if __name__ == "__main__":
    main()
