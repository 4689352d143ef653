"""Status transitions: one compare-and-set UPDATE each, with a history row in the same transaction.

A transition moves a booking from the status (and version) the caller read to a new status. If
another writer moved the booking first, nothing changes and the caller learns it (False), so two
confirms, two cancels or a cancel racing an expiry can never both win.
"""

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from heatdesk.accounts.models import User
from heatdesk.bookings.capacity import Ledger
from heatdesk.bookings.models import ACTIVE_STATUSES, TRANSITIONS, Booking, BookingEvent
from heatdesk.core.errors import Conflict

SYSTEM = "system"


def actor_label(actor: User | None, fallback: str = SYSTEM) -> str:
    if actor is None:
        return fallback
    return str(actor.username or actor.display_name or actor.public_id)


def event_record(
    *,
    booking: Booking,
    kind: str,
    actor: User | None,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    via: str = "",
) -> BookingEvent:
    return BookingEvent.objects.create(
        booking=booking,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_label=actor_label(actor, fallback=via or SYSTEM),
        reason=reason[:500],
        data=data,
    )


def cas_status(
    *,
    booking: Booking,
    to: str,
    actor: User | None,
    now: dt.datetime,
    reason: str = "",
    extra: dict[str, Any] | None = None,
    guard: Q | None = None,
    ledger: Ledger | None = None,
    via: str = "",
) -> bool:
    """Move `booking` from the status and version it was read with to `to`.

    Returns False when another writer got there first (nothing changed). An active booking that
    becomes inactive gives its place back: through `ledger` when the caller batches counter
    changes, else at once. Must run inside a transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("status transitions must run inside a transaction")
    from_status = booking.status
    if to not in TRANSITIONS[from_status]:
        raise Conflict(
            f"当前状态（{booking.get_status_display()}）不能执行此操作。",
            code="booking_state_invalid",
        )
    updates: dict[str, Any] = {"status": to, "updated_at": now, "version": F("version") + 1}
    updates.update(extra or {})
    rows = Booking.objects.filter(pk=booking.pk, status=from_status, version=booking.version)
    if guard is not None:
        rows = rows.filter(guard)
    if not rows.update(**updates):
        return False
    booking.status = to
    booking.version += 1
    for name, value in (extra or {}).items():
        setattr(booking, name, value)
    event_record(
        booking=booking,
        kind=BookingEvent.Kind.STATUS,
        actor=actor,
        from_status=from_status,
        to_status=to,
        reason=reason,
        via=via,
    )
    if from_status in ACTIVE_STATUSES and to not in ACTIVE_STATUSES:
        if ledger is not None:
            ledger.release(booking)
        else:
            own = Ledger()
            own.release(booking)
            own.apply()
    return True


def expire_stale_holds(*, holds: "list[Booking]", now: dt.datetime, ledger: Ledger) -> int:
    """Expire holds whose time ran out (already filtered by the caller), oldest row first.

    Their places go into `ledger`, so they are freed in the same transaction as the take that
    follows. A hold that someone confirmed or cancelled meanwhile is simply skipped."""
    expired = 0
    for hold in sorted(holds, key=lambda b: b.pk):
        if cas_status(
            booking=hold,
            to=Booking.Status.EXPIRED,
            actor=None,
            now=now,
            reason="保留超时",
            guard=Q(hold_expires_at__lte=now),
            ledger=ledger,
        ):
            expired += 1
    return expired
