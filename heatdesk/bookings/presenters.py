"""Shaping bookings and configuration for the API (times shown in Asia/Shanghai)."""

import datetime as dt
from typing import Any

from heatdesk.bookings.catalog import SERVICE_FIELDS
from heatdesk.bookings.links import link_url
from heatdesk.bookings.models import ACTIVE_STATUSES, Booking, BookingEvent, Resource, Service
from heatdesk.bookings.notices import booking_location
from heatdesk.core import clock
from heatdesk.core.masking import mask_name, mask_phone


def local(moment: dt.datetime | None) -> dt.datetime | None:
    return clock.to_local(moment) if moment is not None else None


def service_out(service: Service, *, staff: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(service, name) for name in ("code", *SERVICE_FIELDS)}
    out["kind_label"] = service.get_kind_display()
    if staff:
        out["resources"] = sorted(r.code for r in service.resources.all())
    return out


def resource_out(resource: Resource) -> dict[str, Any]:
    return {
        "code": resource.code,
        "name": resource.name,
        "kind": resource.kind,
        "kind_label": resource.get_kind_display(),
        "capacity_per_slot": resource.capacity_per_slot,
        "location": resource.location,
        "communities": sorted(c.code for c in resource.communities.all()),
        "members": sorted(str(u.username) for u in resource.members.all()),
        "is_active": resource.is_active,
    }


def history_of(booking: Booking) -> list[BookingEvent]:
    """The booking's events, oldest first: those a service just wrote when it says so
    (`services.history_known`), else the prefetched or stored ones."""
    known: list[BookingEvent] | None = getattr(booking, "known_history", None)
    return known if known is not None else list(booking.events.all())


def booking_out(booking: Booking, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    service = booking.service
    cancel_deadline = booking.starts_at - dt.timedelta(minutes=service.cancel_deadline_minutes)
    reschedule_deadline = booking.starts_at - dt.timedelta(
        minutes=service.reschedule_deadline_minutes
    )
    active = booking.status in ACTIVE_STATUSES
    return {
        "id": booking.public_id,
        "code": booking.code,
        "service": service.code,
        "service_name": service.name,
        "status": booking.status,
        "status_label": booking.get_status_display(),
        "starts_at": local(booking.starts_at),
        "ends_at": local(booking.ends_at),
        "house_id": booking.house.public_id if booking.house else None,
        "address": booking.house.address if booking.house else "",
        "location": booking_location(booking),
        "resource_name": booking.resource.name,
        "note": booking.note,
        "hold_expires_at": local(booking.hold_expires_at)
        if booking.status == Booking.Status.HELD
        else None,
        "cancel_deadline": local(cancel_deadline),
        "reschedule_deadline": local(reschedule_deadline),
        "can_cancel": active and (booking.status == Booking.Status.HELD or now <= cancel_deadline),
        "can_reschedule": booking.status in (Booking.Status.PENDING, Booking.Status.CONFIRMED)
        and now <= reschedule_deadline,
        "link": link_url(booking),
        "history": [
            {
                "at": local(event.occurred_at),
                "kind": event.kind,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "actor": event.actor_label,
                "reason": event.reason,
            }
            for event in history_of(booking)
        ],
    }


def staff_booking_out(booking: Booking, *, now: dt.datetime | None = None) -> dict[str, Any]:
    out = booking_out(booking, now=now)
    out.update(
        {
            "resource": booking.resource.code,
            "contact_name_masked": mask_name(booking.contact_name),
            "contact_phone_masked": mask_phone(booking.contact_phone)
            if booking.contact_phone
            else "",
            "technician": booking.technician.username if booking.technician else None,
            "outcome_notes": booking.outcome_notes,
            "created_by": str(booking.created_by) if booking.created_by_id else "",
        }
    )
    return out
