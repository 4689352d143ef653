"""Booking use cases: create (or hold), confirm, cancel, reschedule, approve, assign, outcome,
and the periodic jobs (expire holds, send reminders).

Capacity is decided by the database (see `capacity.py`); the availability check done before a
transaction only gives a quick, friendly answer. Every status change is a compare-and-set with a
history row (`transitions.py`); SMS notices are queued in the same transaction.
"""

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from contextlib import nullcontext
from typing import TypeVar

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.bookings import capacity, notices, quick_create
from heatdesk.bookings.capacity import Ledger, SlotTaken, unless_busy
from heatdesk.bookings.models import ACTIVE_STATUSES, Booking, BookingEvent, Resource, Service
from heatdesk.bookings.selectors import bookable_window, offers_at
from heatdesk.bookings.transitions import cas_status, event_record, expire_stale_holds
from heatdesk.bookings.window_day import WindowDay
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, ValidationFailed
from heatdesk.estates.models import House

T = TypeVar("T")
MAX_TRIES = 3


def _retrying(work: Callable[[], T]) -> T:
    """Run a transactional unit again when PostgreSQL reports a deadlock or serialisation
    failure; the lock order in `capacity.py` makes these rare, this makes them harmless."""
    for attempt in range(MAX_TRIES):
        try:
            return work()
        except OperationalError as exc:
            if not capacity.is_retryable(exc) or attempt == MAX_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _fingerprint(**parts: object) -> str:
    text = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(*, created_by: User, key: str, fingerprint: str) -> Booking | None:
    # Plain SQL for the look-up every create makes and nearly always finds nothing.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, request_fingerprint FROM {Booking._meta.db_table} "  # noqa: S608
            "WHERE created_by_id = %s AND idempotency_key = %s",
            [created_by.pk, key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != fingerprint:
        raise Conflict(
            "该 Idempotency-Key 已用于另一个不同的预约请求。", code="idempotency_key_reused"
        )
    return Booking.objects.get(pk=row[0])


def _check_time(*, service: Service, starts_at: dt.datetime, now: dt.datetime) -> None:
    if timezone_naive(starts_at):
        raise ValidationFailed("时间须带时区。", fields={"starts_at": ["时间须带时区。"]})
    earliest, last_day = bookable_window(service=service, now=now)
    if starts_at < earliest:
        hours = service.min_notice_minutes / 60
        raise ApplicationError(f"该服务需至少提前{hours:g}小时预约。", code="booking_too_soon")
    if clock.to_local(starts_at).date() > last_day:
        raise ApplicationError(
            f"该服务最多可提前{service.max_days_ahead}天预约。", code="booking_too_far"
        )


def timezone_naive(moment: dt.datetime) -> bool:
    return moment.tzinfo is None or moment.utcoffset() is None


def _community_id(house: House | None) -> int | None:
    if house is None:
        return None
    return int(house.unit.building.community_id)


def _candidates(
    *,
    service: Service,
    house: House | None,
    starts_at: dt.datetime,
    now: dt.datetime,
    ignore_booking_id: int | None = None,
    resource_id: int | None = None,
) -> list[Resource]:
    """Resources to try for `starts_at`, best first; raises when the time is not a free slot."""
    on_grid, offer = offers_at(
        service=service,
        community_id=_community_id(house),
        starts_at=starts_at,
        now=now,
        ignore_booking_id=ignore_booking_id,
    )
    if resource_id is not None:
        on_grid = [r for r in on_grid if r.pk == resource_id]
    if not on_grid:
        raise ApplicationError(
            "该时间不提供此项服务，请从可预约时段中选择。", code="slot_unavailable"
        )
    free = [rid for rid in (offer.resource_ids if offer else ()) if rid in {r.pk for r in on_grid}]
    if not free:
        raise SlotTaken()
    by_id = {r.pk: r for r in on_grid}
    return [by_id[rid] for rid in free]


def _times(service: Service, starts_at: dt.datetime) -> dict[str, dt.datetime]:
    ends_at = starts_at + dt.timedelta(minutes=service.duration_minutes)
    return {
        "starts_at": starts_at,
        "ends_at": ends_at,
        "blocked_from": starts_at - dt.timedelta(minutes=service.buffer_before_minutes),
        "blocked_until": ends_at + dt.timedelta(minutes=service.buffer_after_minutes),
    }


def _remind_at(service: Service, starts_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """When to remind; None when reminders are off or the booking is already that close."""
    if not service.reminder_hours_before:
        return None
    at = starts_at - dt.timedelta(hours=service.reminder_hours_before)
    return at if at > now else None


def _stale_holds_for(
    *, resource: Resource, slot_id: int | None, times: dict[str, dt.datetime], now: dt.datetime
) -> list[Booking]:
    ids = capacity.stale_hold_ids(
        slot_id=slot_id,
        resource=resource,
        blocked_from=times["blocked_from"],
        blocked_until=times["blocked_until"],
        now=now,
    )
    if not ids:
        return []
    # Read again with the same conditions: one may have been confirmed or cancelled since.
    holds = Booking.objects.filter(
        pk__in=ids, status=Booking.Status.HELD, hold_expires_at__lte=now
    ).order_by("pk")
    return list(holds)


def _claim(
    *,
    service: Service,
    resource: Resource,
    times: dict[str, dt.datetime],
    now: dt.datetime,
    ledger: Ledger,
    ignore_booking_id: int | None = None,
) -> int | None:
    """Take a place on `resource` in the current transaction: expire stale holds there first,
    then the slot counter (windows) or the overlap check (teams). Returns the slot id."""
    slot_id = None
    if not resource.exclusive:
        slot_id = capacity.slot_for(
            service=service, resource=resource, starts_at=times["starts_at"]
        )
    stale = _stale_holds_for(resource=resource, slot_id=slot_id, times=times, now=now)
    expire_stale_holds(holds=stale, now=now, ledger=ledger)
    if slot_id is not None:
        capacity.ensure_window_room(
            resource=resource,
            starts_at=times["starts_at"],
            ends_at=times["ends_at"],
            now=now,
            ignore_booking_id=ignore_booking_id,
        )
        ledger.take_slot(slot_id)
        return slot_id
    capacity.ensure_resource_free(
        resource=resource,
        blocked_from=times["blocked_from"],
        blocked_until=times["blocked_until"],
        ignore_booking_id=ignore_booking_id,
    )
    return None


def _new_status(*, service: Service, hold: bool) -> str:
    if hold:
        return Booking.Status.HELD
    if service.requires_approval:
        return Booking.Status.PENDING
    return Booking.Status.CONFIRMED


def _integrity_to_error(exc: IntegrityError) -> ApplicationError:
    name = capacity.violated_constraint(exc)
    if name in capacity.TAKEN_CONSTRAINTS:
        return SlotTaken()
    if name == "booking_one_active_per_resident_slot":
        return Conflict("您已预约该时段，请勿重复预约。", code="already_booked")
    if name == "house_quota_nonneg":
        return SlotTaken()
    raise exc


@capacity.busy_answers
def booking_create(
    *,
    service: Service,
    starts_at: dt.datetime,
    created_by: User,
    resident: User | None,
    house: House | None = None,
    hold: bool = False,
    idempotency_key: str | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    note: str = "",
    resource_id: int | None = None,
    now: dt.datetime | None = None,
    known: WindowDay | None = None,
) -> tuple[Booking, bool]:
    """Book `service` at `starts_at` (or hold it for `service.hold_minutes`). Returns the booking
    and whether it was created now: the same `idempotency_key` from the same creator returns the
    first booking and creates nothing. Losers of a race get `slot_taken` (409). `known` is what
    the caller has read already of the service's windows and their day."""
    now = now or clock.now()
    key = idempotency_key or None
    fingerprint = _fingerprint(
        service=service.code,
        starts_at=starts_at.astimezone(dt.UTC).isoformat() if not timezone_naive(starts_at) else "",
        house=house.pk if house else "",
        hold=hold,
        resource=resource_id or "",
    )
    if (
        resource_id is None
        and not timezone_naive(starts_at)
        and quick_create.applies(service=service, created_by=created_by, resident=resident)
    ):
        status = _new_status(service=service, hold=hold)
        quick = quick_create.booking_create_quick(
            service=service,
            starts_at=starts_at,
            created_by=created_by,
            house=house,
            hold=hold,
            key=key,
            fingerprint=fingerprint,
            contact_name=contact_name,
            contact_phone=contact_phone,
            note=note,
            now=now,
            times=_times(service, starts_at),
            status=status,
            remind_at=_remind_at(service, starts_at, now),
            known=known,
        )
        if quick is not None:
            booking, event = quick
            history_known(booking, [event])
            return booking, True
    if key is not None:
        earlier = _replay(created_by=created_by, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return earlier, False
    if not service.is_active:
        raise ApplicationError("该服务暂停预约。", code="service_unavailable")
    if service.requires_house and house is None:
        raise ValidationFailed("该服务需选择已绑定的房屋。", fields={"house_id": ["请选择房屋。"]})
    _check_time(service=service, starts_at=starts_at, now=now)
    candidates = _candidates(
        service=service, house=house, starts_at=starts_at, now=now, resource_id=resource_id
    )
    capacity.race_window()

    status = _new_status(service=service, hold=hold)
    times = _times(service, starts_at)

    def insert_on(resource: Resource) -> Booking:
        ledger = Ledger()
        slot_id = _claim(service=service, resource=resource, times=times, now=now, ledger=ledger)
        if house is not None:
            ledger.take_quota(house_id=house.pk, service=service)
        ledger.apply()
        booking = Booking.objects.create(
            service=service,
            resource=resource,
            slot_id=slot_id,
            exclusive=resource.exclusive,
            resident=resident,
            house=house,
            contact_name=contact_name,
            contact_phone=contact_phone,
            note=note,
            status=status,
            hold_expires_at=now + dt.timedelta(minutes=service.hold_minutes) if hold else None,
            remind_at=_remind_at(service, starts_at, now),
            idempotency_key=key,
            request_fingerprint=fingerprint,
            created_by=created_by,
            **times,
        )
        created = event_record(
            booking=booking,
            kind=BookingEvent.Kind.CREATED,
            actor=created_by,
            to_status=status,
        )
        history_known(booking, [created])
        return booking

    def attempt() -> Booking:
        with transaction.atomic():
            capacity.bound_lock_wait()
            last_error: ApplicationError = SlotTaken()
            for resource in candidates:
                try:
                    # A savepoint only where another resource may be tried after a refusal.
                    with transaction.atomic() if len(candidates) > 1 else nullcontext():
                        booking = insert_on(resource)
                except SlotTaken as exc:
                    last_error = exc
                    continue
                except IntegrityError as exc:
                    last_error = _integrity_to_error(exc)
                    if not isinstance(last_error, SlotTaken):
                        raise last_error from exc
                    continue
                if resident is None or resident.pk != created_by.pk:
                    audit_record(
                        actor=created_by,
                        action="booking.create_on_behalf",
                        obj=booking,
                        after={"status": status, "starts_at": starts_at.isoformat()},
                    )
                if status == Booking.Status.CONFIRMED:
                    notices.notify(booking, notices.SMS_CONFIRMED)
                elif status == Booking.Status.PENDING:
                    notices.notify(booking, notices.SMS_RECEIVED)
                return booking
            raise last_error

    try:
        return _retrying(attempt), True
    except IntegrityError as exc:
        # Only the idempotency key gets here: a concurrent twin committed first.
        if key is not None:
            earlier = _replay(created_by=created_by, key=key, fingerprint=fingerprint)
            if earlier is not None:
                return earlier, False
        raise _integrity_to_error(exc) from exc


def history_known(booking: Booking, events: list[BookingEvent]) -> None:
    """Give a booking written in this request its whole history (`presenters.history_of`
    reads it), so the answer is shaped without reading back what was just inserted."""
    booking.known_history = events  # type: ignore[attr-defined]


def _fresh(booking: Booking, *, lock: bool = False) -> Booking:
    rows = Booking.objects.select_related("service", "resource", "house__unit__building")
    if lock:
        rows = rows.select_for_update(of=("self",))
    return rows.get(pk=booking.pk)


@capacity.busy_answers
def booking_confirm_hold(
    *, booking: Booking, actor: User, now: dt.datetime | None = None
) -> Booking:
    """Turn a still-valid hold into a booking (pending if the service needs approval). The place
    was taken when the hold was made, so nothing is re-checked; a run-out hold is expired."""
    now = now or clock.now()
    for _ in range(MAX_TRIES):
        run_out = False
        with transaction.atomic():
            capacity.bound_lock_wait()
            fresh = _fresh(booking)
            if fresh.status in (Booking.Status.PENDING, Booking.Status.CONFIRMED):
                return fresh  # confirmed already (a double click)
            if fresh.status != Booking.Status.HELD:
                raise Conflict("该预约已失效，请重新选择时段。", code="hold_expired")
            if fresh.hold_expires_at is not None and fresh.hold_expires_at <= now:
                # Expire it now (committed below), then tell the resident.
                cas_status(
                    booking=fresh, to=Booking.Status.EXPIRED, actor=None, now=now, reason="保留超时"
                )
                run_out = True
            else:
                to = (
                    Booking.Status.PENDING
                    if fresh.service.requires_approval
                    else Booking.Status.CONFIRMED
                )
                if cas_status(
                    booking=fresh, to=to, actor=actor, now=now, guard=Q(hold_expires_at__gt=now)
                ):
                    template = (
                        notices.SMS_CONFIRMED
                        if to == Booking.Status.CONFIRMED
                        else notices.SMS_RECEIVED
                    )
                    notices.notify(fresh, template)
                    return fresh
        if run_out:
            raise Conflict("保留时间已过，该时段已释放，请重新选择。", code="hold_expired")
    raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")


@capacity.busy_answers
def booking_cancel(
    *,
    booking: Booking,
    actor: User | None,
    reason: str = "",
    by_staff: bool = False,
    via: str = "",
    now: dt.datetime | None = None,
) -> Booking:
    """Cancel and give the place back. Residents only before the service's cancellation
    deadline (a hold at any time); staff at any time, with a reason. Cancelling a cancelled
    booking again changes nothing and returns it (a double click frees one place only)."""
    now = now or clock.now()
    if by_staff and not reason.strip():
        raise ValidationFailed("请填写取消原因。", fields={"reason": ["请填写取消原因。"]})
    for _ in range(MAX_TRIES):
        with transaction.atomic():
            capacity.bound_lock_wait()
            fresh = _fresh(booking)
            if fresh.status == Booking.Status.CANCELLED:
                return fresh
            if fresh.status not in ACTIVE_STATUSES:
                raise Conflict(
                    f"该预约{fresh.get_status_display()}，不能取消。",
                    code="booking_not_cancellable",
                )
            deadline = fresh.starts_at - dt.timedelta(minutes=fresh.service.cancel_deadline_minutes)
            if not by_staff and fresh.status != Booking.Status.HELD and now > deadline:
                raise Conflict(
                    f"已过取消截止时间（{clock.format_local(deadline)}），如需取消请联系客服。",
                    code="cancel_deadline_passed",
                )
            was = fresh.status
            if not cas_status(
                booking=fresh,
                to=Booking.Status.CANCELLED,
                actor=actor,
                now=now,
                reason=reason,
                via=via,
            ):
                continue
            if was != Booking.Status.HELD:
                notices.notify(fresh, notices.SMS_CANCELLED, reason=reason if by_staff else "")
            if by_staff:
                audit_record(
                    actor=actor,
                    action="booking.cancel",
                    obj=fresh,
                    before={"status": was},
                    after={"status": fresh.status},
                    reason=reason,
                )
            return fresh
    raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")


@capacity.busy_answers
def booking_reschedule(
    *,
    booking: Booking,
    starts_at: dt.datetime,
    actor: User | None,
    by_staff: bool = False,
    reason: str = "",
    via: str = "",
    now: dt.datetime | None = None,
) -> Booking:
    """Move a booking to another time in one transaction: the new place is taken before the old
    one is given back, so if the new time is full the booking stays exactly as it was. Keeps its
    code and link; a technician assignment is dropped (the new time needs a new assignment)."""
    now = now or clock.now()
    fresh = _fresh(booking)
    service = fresh.service
    if fresh.status not in (Booking.Status.PENDING, Booking.Status.CONFIRMED):
        raise Conflict(
            f"该预约{fresh.get_status_display()}，不能改约。", code="booking_not_reschedulable"
        )
    deadline = fresh.starts_at - dt.timedelta(minutes=service.reschedule_deadline_minutes)
    if not by_staff and now > deadline:
        raise Conflict(
            f"已过改约截止时间（{clock.format_local(deadline)}），如需改约请联系客服。",
            code="reschedule_deadline_passed",
        )
    if starts_at == fresh.starts_at:
        raise ApplicationError("新时间与原时间相同。", code="same_time")
    _check_time(service=service, starts_at=starts_at, now=now)
    candidates = _candidates(
        service=service, house=fresh.house, starts_at=starts_at, now=now, ignore_booking_id=fresh.pk
    )
    capacity.race_window()
    times = _times(service, starts_at)

    def move_to(resource: Resource, current: Booking) -> None:
        ledger = Ledger()
        slot_id = _claim(
            service=service,
            resource=resource,
            times=times,
            now=now,
            ledger=ledger,
            ignore_booking_id=current.pk,
        )
        if current.slot_id is not None:
            ledger.slots[current.slot_id] = ledger.slots.get(current.slot_id, 0) - 1
        ledger.apply()
        moved = Booking.objects.filter(
            pk=current.pk, version=current.version, status=current.status
        ).update(
            resource=resource,
            slot_id=slot_id,
            exclusive=resource.exclusive,
            technician=None,
            remind_at=_remind_at(service, starts_at, now),
            reminder_sent_at=None,
            version=F("version") + 1,
            updated_at=now,
            **times,
        )
        if not moved:
            raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")
        event_record(
            booking=current,
            kind=BookingEvent.Kind.RESCHEDULED,
            actor=actor,
            from_status=current.status,
            to_status=current.status,
            reason=reason,
            via=via,
            data={
                "from": current.starts_at.isoformat(),
                "to": starts_at.isoformat(),
                "from_resource": current.resource.code,
                "to_resource": resource.code,
                "technician_unassigned": current.technician_id,
            },
        )

    def attempt() -> Booking:
        with transaction.atomic():
            capacity.bound_lock_wait()
            current = _fresh(fresh, lock=True)
            if current.version != fresh.version or current.status != fresh.status:
                raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")
            last_error: ApplicationError = SlotTaken()
            for resource in candidates:
                try:
                    with transaction.atomic():
                        move_to(resource, current)
                except SlotTaken as exc:
                    last_error = exc
                    continue
                except IntegrityError as exc:
                    last_error = _integrity_to_error(exc)
                    continue
                moved = _fresh(current)
                notices.notify(moved, notices.SMS_CHANGED)
                if by_staff:
                    audit_record(
                        actor=actor,
                        action="booking.reschedule",
                        obj=moved,
                        before={"starts_at": current.starts_at.isoformat()},
                        after={"starts_at": moved.starts_at.isoformat()},
                        reason=reason,
                    )
                return moved
            raise last_error

    return _retrying(attempt)


@capacity.busy_answers
def booking_approve(*, booking: Booking, actor: User, now: dt.datetime | None = None) -> Booking:
    """Staff approval: pending → confirmed."""
    now = now or clock.now()
    with transaction.atomic():
        capacity.bound_lock_wait()
        fresh = _fresh(booking)
        if fresh.status == Booking.Status.CONFIRMED:
            return fresh
        if fresh.status != Booking.Status.PENDING:
            raise Conflict("只有待审核的预约可以审核通过。", code="booking_state_invalid")
        if now >= fresh.starts_at:
            raise Conflict("预约时间已过，不能再审核通过。", code="booking_started")
        if not cas_status(booking=fresh, to=Booking.Status.CONFIRMED, actor=actor, now=now):
            raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")
        notices.notify(fresh, notices.SMS_CONFIRMED)
        audit_record(
            actor=actor,
            action="booking.approve",
            obj=fresh,
            before={"status": Booking.Status.PENDING},
            after={"status": fresh.status},
        )
        return fresh


@capacity.busy_answers
def booking_assign(*, booking: Booking, technician: User, actor: User) -> Booking:
    """Assign a team member to a visit. A technician is never in two places at once: the
    overlap check runs inside the transaction (SQLite's guard) and PostgreSQL's exclusion
    constraint on (technician, blocked time) decides concurrent assignments."""
    now = clock.now()
    fresh = _fresh(booking)
    if fresh.status not in ACTIVE_STATUSES:
        raise Conflict("该预约已结束，不能指派。", code="booking_state_invalid")
    if not fresh.resource.members.filter(pk=technician.pk).exists():
        raise ValidationFailed(
            "该维修员不属于此预约的班组。", fields={"technician": ["不属于该班组。"]}
        )
    busy = Conflict("该维修员在此时间已有其他任务。", code="technician_busy")
    try:
        with transaction.atomic():
            capacity.bound_lock_wait()
            current = _fresh(fresh, lock=True)
            if capacity.technician_busy(
                technician_id=technician.pk,
                blocked_from=current.blocked_from,
                blocked_until=current.blocked_until,
                ignore_booking_id=current.pk,
            ):
                raise busy
            before = current.technician_id
            if not Booking.objects.filter(
                pk=current.pk, version=current.version, status__in=ACTIVE_STATUSES
            ).update(technician=technician, version=F("version") + 1, updated_at=now):
                raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")
            event_record(
                booking=current,
                kind=BookingEvent.Kind.ASSIGNED,
                actor=actor,
                data={"technician": technician.username, "previous": before},
            )
            audit_record(
                actor=actor,
                action="booking.assign",
                obj=current,
                before={"technician": before},
                after={"technician": technician.pk},
            )
    except IntegrityError as exc:
        raise busy from exc
    return _fresh(fresh)


@capacity.busy_answers
def booking_record_outcome(
    *, booking: Booking, outcome: str, notes: str, actor: User, now: dt.datetime | None = None
) -> Booking:
    """Mark a confirmed booking completed or no-show, once it has begun."""
    now = now or clock.now()
    if outcome not in (Booking.Status.COMPLETED, Booking.Status.NO_SHOW):
        raise ValidationFailed("结果不正确。", fields={"outcome": ["只能是已完成或未到场。"]})
    with transaction.atomic():
        capacity.bound_lock_wait()
        fresh = _fresh(booking)
        if fresh.status == outcome:
            return fresh
        if fresh.status != Booking.Status.CONFIRMED:
            raise Conflict("只有已确认的预约可以登记结果。", code="booking_state_invalid")
        if now < fresh.starts_at:
            raise Conflict("预约尚未开始，不能登记结果。", code="booking_not_started")
        if not cas_status(
            booking=fresh,
            to=outcome,
            actor=actor,
            now=now,
            reason=notes,
            extra={"outcome_notes": notes},
        ):
            raise Conflict("预约状态刚刚发生变化，请刷新后重试。", code="booking_changed")
        audit_record(
            actor=actor,
            action=f"booking.{outcome}",
            obj=fresh,
            before={"status": Booking.Status.CONFIRMED},
            after={"status": outcome},
            reason=notes,
        )
        return fresh


# Periodic jobs ---------------------------------------------------------------------------------


def _expire(*, booking: Booking, now: dt.datetime) -> bool:
    was = booking.status
    held = was == Booking.Status.HELD
    reason = "保留超时" if held else "未在开始前审核"
    guard = Q(hold_expires_at__lte=now) if held else Q(starts_at__lte=now)
    if not cas_status(
        booking=booking, to=Booking.Status.EXPIRED, actor=None, now=now, reason=reason, guard=guard
    ):
        return False
    if was == Booking.Status.PENDING:
        notices.notify(booking, notices.SMS_CANCELLED, reason="未能在开始前完成审核")
    return True


def holds_expire(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Expire run-out holds and pending bookings whose time has come without approval. Safe to
    run twice or in two runners: each expiry is a compare-and-set. A booking whose locks a
    request holds longer than the lock timeout is left for the next run."""
    now = now or clock.now()
    stale = list(
        Booking.objects.select_related("service", "resource", "house__unit__building")
        .filter(
            Q(status=Booking.Status.HELD, hold_expires_at__lte=now)
            | Q(status=Booking.Status.PENDING, starts_at__lte=now)
        )
        .order_by("pk")[:batch]
    )
    expired = 0
    for booking in stale:
        if unless_busy(functools.partial(_expire, booking=booking, now=now)):
            expired += 1
    return expired


def _remind(*, booking: Booking, now: dt.datetime) -> bool:
    claimed = Booking.objects.filter(
        pk=booking.pk, status=Booking.Status.CONFIRMED, reminder_sent_at=None
    ).update(reminder_sent_at=now)
    if not claimed:
        return False  # another runner reminded it first
    booking.reminder_sent_at = now
    notices.notify(booking, notices.SMS_REMINDER)
    event_record(booking=booking, kind=BookingEvent.Kind.REMINDED, actor=None)
    return True


def reminders_send(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Send the reminder SMS of confirmed bookings that are due. Each booking is reminded once:
    `reminder_sent_at` is set by a compare-and-set in the transaction that queues the SMS; a
    booking a request holds locked past the lock timeout is reminded by the next run."""
    now = now or clock.now()
    due = list(
        Booking.objects.select_related("service")
        .filter(
            status=Booking.Status.CONFIRMED,
            remind_at__lte=now,
            reminder_sent_at=None,
            starts_at__gt=now,
        )
        .order_by("remind_at", "pk")[:batch]
    )
    sent = 0
    for booking in due:
        if unless_busy(functools.partial(_remind, booking=booking, now=now)):
            sent += 1
    return sent


def _slot_reconcile(*, slot_id: int) -> bool:
    from django.db.models import Count

    from heatdesk.bookings.models import Slot

    slot = Slot.objects.select_for_update().get(pk=slot_id)
    actual = Booking.objects.filter(slot_id=slot_id, status__in=ACTIVE_STATUSES).aggregate(
        n=Count("id")
    )["n"]
    if actual == slot.booked:
        return False
    Slot.objects.filter(pk=slot_id).update(booked=min(actual, slot.capacity))
    return True


def slots_reconcile() -> int:
    """Repair slot counters that drifted from the count of active bookings (nightly); returns
    how many were fixed. Each slot is corrected under its row lock; one a request holds past
    the lock timeout waits for the next run."""
    from heatdesk.bookings.models import Slot

    fixed = 0
    now = clock.now()
    for slot_id in Slot.objects.filter(ends_at__gt=now).values_list("pk", flat=True):
        if unless_busy(functools.partial(_slot_reconcile, slot_id=slot_id)):
            fixed += 1
    return fixed
