"""Data of the peer scenarios, run in the peer venv (`DJANGO_SETTINGS_MODULE=bench.peer.settings`):

    python -m bench.peer.data prepare --workdir DIR   # after migrate, before the server starts
    python -m bench.peer.data count --workdir DIR     # after the load

`prepare` mirrors bench/scenarios/booking_data.py in django-appointment's terms: 20 staff members
(the package has one place per staff member and time, so a staff member stands for one of
HeatDesk's windows of capacity 1), each offering its own 5-minute service and working every day
00:00–23:55 in 5-minute slots, 120 days ahead; one more staff member for the contention load; and
2,000 clients (users). It writes `peer.json` for the Lua scripts.

`count` reads the appointments back and prints one line `PEER …`: how many appointments, how many
of them are double bookings (an appointment whose time overlaps an earlier one of the same staff
member on the same day: everything beyond capacity 1), and on how many slots.
"""

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

FREE_STAFF = 20
FREE_DAYS = 120
STARTS_PER_DAY = 287  # 00:00 … 23:50, every 5 minutes
ATTEMPTS_PER_SLOT = 16
CLIENTS = 2000
DATA_FILE = "peer.json"


def prepare(workdir: Path) -> str:
    from appointment.models import Config, Service, StaffMember, WorkingHours
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    user_model = get_user_model()
    first_day = timezone.localdate() + dt.timedelta(days=1)
    with transaction.atomic():
        Config.objects.create(slot_duration=5, lead_time=dt.time(0, 0), finish_time=dt.time(23, 55))
        staff: list[Any] = []
        services: list[Any] = []
        for code in [f"bench-free-{n:02d}" for n in range(FREE_STAFF)] + ["bench-contention"]:
            service = Service.objects.create(
                name=code, duration=dt.timedelta(minutes=5), price=0, down_payment=0
            )
            user = user_model.objects.create_user(username=code, email=f"{code}@bench.invalid")
            member = StaffMember.objects.create(
                user=user,
                slot_duration=5,
                lead_time=dt.time(0, 0),
                finish_time=dt.time(23, 55),
                appointment_buffer_time=0,
                work_on_saturday=True,
                work_on_sunday=True,
            )
            member.services_offered.set([service])
            WorkingHours.objects.bulk_create(
                WorkingHours(
                    staff_member=member,
                    day_of_week=d,
                    start_time=dt.time(0, 0),
                    end_time=dt.time(23, 55),
                )
                for d in range(7)
            )
            staff.append(member.pk)
            services.append(service.pk)
        clients = user_model.objects.bulk_create(
            user_model(username=f"client-{n:04d}", email=f"client-{n:04d}@bench.invalid")
            for n in range(CLIENTS)
        )
    client_ids = sorted(c.pk for c in clients)
    if client_ids != list(range(client_ids[0], client_ids[0] + CLIENTS)):
        raise RuntimeError("the clients' ids are not contiguous: the Lua scripts assume they are")
    data = {
        "free_staff": staff[:FREE_STAFF],
        "free_services": services[:FREE_STAFF],
        "contention_staff": staff[FREE_STAFF],
        "contention_service": services[FREE_STAFF],
        "first_client": client_ids[0],
        "clients": CLIENTS,
        "first_day": first_day.isoformat(),
        # The first day's 00:00 as if it were UTC: the Lua scripts only format dates from it.
        "first_day_epoch": int(
            dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC).timestamp()
        ),
        "free_days": FREE_DAYS,
        "starts_per_day": STARTS_PER_DAY,
        "attempts_per_slot": ATTEMPTS_PER_SLOT,
    }
    (workdir / DATA_FILE).write_text(json.dumps(data))
    return f"{FREE_STAFF + 1} staff members and services, {CLIENTS} clients, from {first_day}"


def load_data(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / DATA_FILE).read_text())
    return data


def count() -> str:
    """Appointments, and those overlapping an earlier one of the same staff member and day."""
    from appointment.models import Appointment

    rows = Appointment.objects.values_list(
        "appointment_request__staff_member__user__username",
        "appointment_request__date",
        "appointment_request__start_time",
        "appointment_request__end_time",
    ).order_by(
        "appointment_request__staff_member",
        "appointment_request__date",
        "appointment_request__start_time",
    )
    total = double = 0
    doubled_slots: set[tuple[str, dt.date, dt.time]] = set()
    by_staff: dict[str, list[int]] = {}
    last: tuple[str, dt.date] | None = None
    busy_until = dt.time()
    for staff, day, starts, ends in rows.iterator(chunk_size=5000):
        total += 1
        figures = by_staff.setdefault(staff, [0, 0])
        figures[0] += 1
        if last == (staff, day) and starts < busy_until:
            double += 1
            figures[1] += 1
            doubled_slots.add((staff, day, starts))
            busy_until = max(busy_until, ends)
        else:
            last, busy_until = (staff, day), ends
    free = [v for k, v in by_staff.items() if k.startswith("bench-free-")]
    contention = by_staff.get("bench-contention", [0, 0])
    return (
        f"appointments={total} double_bookings={double} slots_double_booked={len(doubled_slots)} "
        f"free_appointments={sum(v[0] for v in free)} free_double={sum(v[1] for v in free)} "
        f"contention_appointments={contention[0]} contention_double={contention[1]}"
    )


def main(argv: list[str] | None = None) -> None:
    import django

    parser = argparse.ArgumentParser(prog="python -m bench.peer.data")
    parser.add_argument("action", choices=("prepare", "count"))
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    django.setup()
    if args.action == "prepare":
        print(f"PREPARED {prepare(args.workdir)}")  # noqa: T201 - read by the scenario
    else:
        print(f"PEER {count()}")  # noqa: T201 - read by the scenario


if __name__ == "__main__":
    main()
