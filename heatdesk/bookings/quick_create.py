"""Booking create in one statement on PostgreSQL: the common case of a resident booking a
service-hall window.

The function `hd_booking_create` (migration 0002) claims the place and writes the booking, its
history row, the SMS and its delivery job in one round trip, in the same lock order and under
the same constraints as the full path in `services.booking_create` (the window's row lock and
its count of overlapping bookings, the slot counter's conditional upsert and check constraint,
the house quota's). When anything is unusual it writes nothing and says so (a reused key, a
run-out hold on the slot, a full slot or window, the house limit, any unique conflict), and the
full path then runs and answers exactly as it always has. Teams, bookings on behalf of
someone, services offered by several windows at that time, SQLite and the test switches that
turn a guard off all take the full path.
"""

import datetime as dt
import json
from contextlib import nullcontext
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from heatdesk.accounts.models import User
from heatdesk.bookings import capacity, notices
from heatdesk.bookings.models import Booking, BookingEvent, Resource, Service
from heatdesk.bookings.rules import is_slot_start, periods_for_day
from heatdesk.bookings.selectors import (
    _day_rules_and_plans,
    bookable_window,
    resources_for,
    slot_capacity,
    timing_of,
)
from heatdesk.bookings.transitions import actor_label
from heatdesk.bookings.window_day import WindowDay
from heatdesk.core import clock, crypto
from heatdesk.core.ids import new_public_id, new_short_code
from heatdesk.estates.models import House
from heatdesk.notifications.models import OutboundSms
from heatdesk.notifications.sms.templates import TEMPLATES

CALL = f"SELECT * FROM hd_booking_create({', '.join(['%s'] * 35)})"  # noqa: S608 - placeholders
# Give way to the full path on these: a deadlock with a full-path writer (retried there) and
# the house limit reached after the place was taken (the whole statement was undone).
FALL_BACK_STATES = frozenset({"40P01", "40001", "HDB01"})


def applies(*, service: Service, created_by: User, resident: User | None) -> bool:
    """Whether the one-statement path may try this booking at all."""
    return (
        connection.vendor == "postgresql"
        and capacity.RACE_GUARD
        and capacity.WINDOW_GUARD
        and resident is not None
        and resident.pk == created_by.pk
        and service.is_active
        and service.kind == Service.Kind.COUNTER
    )


def _the_window(
    *,
    service: Service,
    starts_at: dt.datetime,
    now: dt.datetime,
    known: WindowDay | None,
) -> Resource | None:
    """The one window whose plan offers `starts_at`, if the time is bookable and exactly one
    window offers it (with several, the full path picks the best). `known` is what the caller
    has read already of the service's windows (and of their day)."""
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        return None
    earliest, last_day = bookable_window(service=service, now=now)
    day = clock.to_local(starts_at).date()
    if starts_at < earliest or day > last_day:
        return None
    windows = known.windows if known is not None else None
    if windows is None:
        windows = resources_for(service=service, community_id=None)
    if not windows:
        return None
    if known is not None and known.day == day and known.rules is not None:
        (calendar, exceptions), plans = known.rules
    else:
        (calendar, exceptions), plans = _day_rules_and_plans([w.pk for w in windows], day, day)
    timing = timing_of(service)
    offering = [
        window
        for window in windows
        if is_slot_start(
            starts_at=starts_at,
            periods=periods_for_day(
                day=day,
                weekly=plans.get(window.pk, {}),
                exceptions=exceptions.get(window.pk),
                calendar=calendar,
            ),
            timing=timing,
        )
    ]
    return offering[0] if len(offering) == 1 and not offering[0].exclusive else None


def _prep(model: type[Any], name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def _delivery_job() -> list[Any]:
    """The SMS delivery job's row values when it goes to the database queue (written by the
    function in the same transaction); Nones when another backend takes it after the call."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import get_date_max

    from heatdesk.notifications.tasks import sms_deliver

    backend = sms_deliver.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return [None] * 6
    return [
        backend._get_id(),
        sms_deliver.module_path,
        sms_deliver.priority,
        sms_deliver.queue_name,
        backend.alias,
        sms_deliver.run_after or get_date_max(),
    ]


def booking_create_quick(
    *,
    service: Service,
    starts_at: dt.datetime,
    created_by: User,
    house: House | None,
    hold: bool,
    key: str | None,
    fingerprint: str,
    contact_name: str,
    contact_phone: str,
    note: str,
    now: dt.datetime,
    times: dict[str, dt.datetime],
    status: str,
    remind_at: dt.datetime | None,
    known: WindowDay | None = None,
) -> tuple[Booking, BookingEvent] | None:
    """The new booking and its history row, or None when the full path must answer."""
    if service.requires_house and house is None:
        return None
    window = _the_window(service=service, starts_at=starts_at, now=now, known=known)
    if window is None:
        return None
    capacity.race_window()
    written_at = timezone.now()
    booking = Booking(
        public_id=new_public_id("bk"),
        code=new_short_code(),
        service=service,
        resource=window,
        exclusive=False,
        resident=created_by,
        house=house,
        contact_name=contact_name,
        contact_phone=contact_phone,
        note=note,
        status=status,
        hold_expires_at=now + dt.timedelta(minutes=service.hold_minutes) if hold else None,
        remind_at=remind_at,
        idempotency_key=key,
        request_fingerprint=fingerprint,
        created_by=created_by,
        created_at=written_at,
        updated_at=written_at,
        **times,
    )
    template = notices.created_template(status) if contact_phone else None
    sms: list[Any] = [None] * 4
    job: list[Any] = [None] * 6
    if template is not None:
        if template not in TEMPLATES:
            raise ValueError(f"unknown SMS template {template!r}")
        params = json.dumps(notices.sms_params(booking, template), ensure_ascii=False)
        sms = [
            _prep(OutboundSms, "phone", contact_phone),
            crypto.blind_index(contact_phone, purpose="phone"),
            template,
            _prep(OutboundSms, "params_json", params),
        ]
        job = _delivery_job()
    label = actor_label(created_by)
    arguments = [
        created_by.pk,
        key,
        fingerprint,
        service.pk,
        window.pk,
        slot_capacity(service=service, resource=window),
        times["starts_at"],
        times["ends_at"],
        times["blocked_from"],
        times["blocked_until"],
        now,
        f"{int(capacity.LOCK_TIMEOUT_MS)}ms",
        house.pk if house is not None else None,
        service.max_active_per_house if house is not None else None,
        booking.public_id,
        booking.code,
        created_by.pk,
        _prep(Booking, "contact_name", contact_name),
        _prep(Booking, "contact_phone", contact_phone),
        note,
        status,
        booking.hold_expires_at,
        remind_at,
        written_at,
        label,
        *sms,
        *job,
    ]
    try:
        # Alone it is its own transaction; inside the caller's, a savepoint undoes it.
        scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with scope, connection.cursor() as cursor:
            cursor.execute(CALL, arguments)
            outcome, booking_id, event_id, sms_id, slot_id = cursor.fetchone()
    except IntegrityError:
        return None  # a twin's key, a taken code or slot: the full path tells which
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) in FALL_BACK_STATES:
            return None
        raise
    if outcome != "created":
        return None
    booking.pk = booking_id
    booking.slot_id = slot_id
    if sms_id is not None and job[0] is None:
        from heatdesk.notifications.tasks import sms_deliver

        sms_deliver.enqueue(sms_id)
    event = BookingEvent(
        pk=event_id,
        booking=booking,
        occurred_at=written_at,
        kind=BookingEvent.Kind.CREATED,
        from_status="",
        to_status=status,
        actor=created_by,
        actor_label=label,
        reason="",
        data=None,
    )
    return booking, event
