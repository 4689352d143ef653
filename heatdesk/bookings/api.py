"""Appointments for residents (bearer auth) and through the signed SMS link (no login).

Residents see and change only their own bookings: another resident's booking is `booking_not_found`
(404). Staff endpoints live in `api_staff.py` and are mounted on this router.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router

from heatdesk.accounts.auth import resident_ready
from heatdesk.accounts.models import User
from heatdesk.bookings import selectors, services
from heatdesk.bookings.api_common import (
    ERRORS,
    VIA_LINK,
    availability_answer,
    aware,
    ics_response,
    idempotency_key_required,
)
from heatdesk.bookings.api_staff import router as staff_router
from heatdesk.bookings.availability_json import availability_response
from heatdesk.bookings.booking_json import booking_response
from heatdesk.bookings.links import code_from_token
from heatdesk.bookings.models import Booking
from heatdesk.bookings.presenters import booking_out, service_out
from heatdesk.bookings.schemas import (
    AvailabilityOut,
    BookingCreateIn,
    BookingOut,
    CancelIn,
    RescheduleIn,
    ServiceOut,
)
from heatdesk.bookings.window_day import service_with_windows
from heatdesk.core import clock
from heatdesk.estates.selectors import house_get_for_resident

router = Router(tags=["bookings"])

# Resident ------------------------------------------------------------------------------------


@router.get("/bookings/services", response={200: list[ServiceOut], **ERRORS}, summary="Services")
def services_list(request: HttpRequest) -> list[dict[str, Any]]:
    """The services a resident can book now. Errors: `phone_verification_required`,
    `privacy_consent_required` (403)."""
    resident_ready(request)
    return [service_out(s) for s in selectors.services_bookable()]


@router.get(
    "/bookings/availability", response={200: AvailabilityOut, **ERRORS}, summary="Free slots"
)
def availability(
    request: HttpRequest,
    service: str,
    house_id: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> HttpResponse:
    """Free slots of a service between two dates (default: today to the last bookable day),
    for the community of `house_id` where the service needs a house. Past slots, slots inside
    the minimum notice, full slots and days off never appear. Errors: `service_not_found`,
    `house_not_found` (404), `validation_error` (422: no house where one is needed, bad range)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id) if house_id else None
    # Written as AvailabilityOut's JSON directly: a month is hundreds of slots.
    return availability_response(
        availability_answer(service_code=service, house=house, date_from=date_from, date_to=date_to)
    )


@router.post(
    "/bookings",
    response={200: BookingOut, 201: BookingOut, **ERRORS},
    summary="Book (or hold) a slot",
)
def create(
    request: HttpRequest,
    payload: BookingCreateIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> HttpResponse:
    """Books `starts_at` for the caller (201), or holds it for the service's hold minutes when
    `hold` is true (confirm with `/confirm`). Needs an `Idempotency-Key` header: repeating the
    request with the same key returns the first booking (200) and books nothing more.
    Errors: `idempotency_key_required` (400), `booking_too_soon`, `booking_too_far`,
    `slot_unavailable`, `service_unavailable` (400), `service_not_found`, `house_not_found`
    (404), `slot_taken` (409: the slot just filled up, pick another), `already_booked`,
    `house_booking_limit`, `idempotency_key_reused` (409), `validation_error` (422)."""
    user = resident_ready(request)
    key = idempotency_key_required(idempotency_key)
    starts_at = aware(payload.starts_at)
    service, known = service_with_windows(
        code=payload.service, day=clock.to_local(starts_at).date()
    )
    house = (
        house_get_for_resident(resident=user, house_id=payload.house_id)
        if payload.house_id
        else None
    )
    booking, created = services.booking_create(
        service=service,
        known=known,
        starts_at=starts_at,
        created_by=user,
        resident=user,
        house=house,
        hold=payload.hold,
        idempotency_key=key,
        contact_name=user.display_name,
        contact_phone=user.phone,
        note=payload.note,
    )
    if not created:
        # A replay: the first request's booking, as it is now.
        booking = selectors.booking_get_for_resident(resident=user, booking_id=booking.public_id)
    # A new booking carries its service, resource, house and history already. Written as
    # BookingOut's JSON directly (booking_json).
    return booking_response(booking_out(booking), status=201 if created else 200)


@router.get("/bookings", response={200: list[BookingOut], **ERRORS}, summary="My bookings")
def my_bookings(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's bookings, latest first, each with its status history."""
    user = resident_ready(request)
    return [booking_out(b) for b in selectors.bookings_for_resident(resident=user)]


def _own(request: HttpRequest, booking_id: str) -> tuple[User, Booking]:
    user = resident_ready(request)
    return user, selectors.booking_get_for_resident(resident=user, booking_id=booking_id)


@router.get("/bookings/{booking_id}", response={200: BookingOut, **ERRORS}, summary="One booking")
def detail(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    """Errors: `booking_not_found` (404, also for another resident's booking)."""
    _, booking = _own(request, booking_id)
    return booking_out(booking)


@router.post(
    "/bookings/{booking_id}/confirm", response={200: BookingOut, **ERRORS}, summary="Confirm a hold"
)
def confirm(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    """Turns a hold into a booking (pending if the service needs approval); confirming twice
    answers the same. Errors: `booking_not_found` (404), `hold_expired` (409: the hold ran out
    and its place was released)."""
    user, booking = _own(request, booking_id)
    services.booking_confirm_hold(booking=booking, actor=user)
    return booking_out(selectors.booking_get_for_resident(resident=user, booking_id=booking_id))


@router.post(
    "/bookings/{booking_id}/cancel", response={200: BookingOut, **ERRORS}, summary="Cancel"
)
def cancel(request: HttpRequest, booking_id: str, payload: CancelIn) -> dict[str, Any]:
    """Cancels before the service's cancellation deadline (a hold at any time); cancelling a
    cancelled booking again answers the same. Errors: `booking_not_found` (404),
    `cancel_deadline_passed`, `booking_not_cancellable` (409)."""
    user, booking = _own(request, booking_id)
    services.booking_cancel(booking=booking, actor=user, reason=payload.reason)
    return booking_out(selectors.booking_get_for_resident(resident=user, booking_id=booking_id))


@router.post(
    "/bookings/{booking_id}/reschedule", response={200: BookingOut, **ERRORS}, summary="Reschedule"
)
def reschedule(request: HttpRequest, booking_id: str, payload: RescheduleIn) -> dict[str, Any]:
    """Moves the booking to another free slot in one step: if the new slot is full the booking
    stays as it was. Errors: `booking_not_found` (404), `booking_too_soon`, `booking_too_far`,
    `slot_unavailable`, `same_time` (400), `reschedule_deadline_passed`,
    `booking_not_reschedulable`, `slot_taken`, `booking_changed` (409)."""
    user, booking = _own(request, booking_id)
    services.booking_reschedule(booking=booking, starts_at=aware(payload.starts_at), actor=user)
    return booking_out(selectors.booking_get_for_resident(resident=user, booking_id=booking_id))


@router.get(
    "/bookings/{booking_id}/ics",
    response={200: str, **ERRORS},
    summary="Calendar file (.ics)",
    openapi_extra={"responses": {"200": {"content": {"text/calendar": {}}}}},
)
def ics(request: HttpRequest, booking_id: str) -> HttpResponse:
    """An iCalendar file with the appointment. Errors: `booking_not_found` (404)."""
    _, booking = _own(request, booking_id)
    return ics_response(booking)


# Self-service link (from an SMS, no login) ---------------------------------------------------


def _linked(token: str) -> Booking:
    return selectors.booking_get_by_code(code=code_from_token(token))


@router.get(
    "/bookings/link/{token}",
    response={200: BookingOut, **ERRORS},
    auth=None,
    summary="Link: status",
)
def link_status(request: HttpRequest, token: str) -> dict[str, Any]:
    """The booking behind a signed SMS link. Errors: `link_invalid` (404: bad or expired)."""
    return booking_out(_linked(token))


@router.get(
    "/bookings/link/{token}/availability",
    response={200: AvailabilityOut, **ERRORS},
    auth=None,
    summary="Link: free slots to move to",
)
def link_availability(
    request: HttpRequest,
    token: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    """Free slots of the linked booking's service and house. Errors: `link_invalid` (404),
    `validation_error` (422)."""
    booking = _linked(token)
    return availability_answer(
        service_code=booking.service.code,
        house=booking.house,
        date_from=date_from,
        date_to=date_to,
        ignore_booking_id=booking.pk,
    )


@router.post(
    "/bookings/link/{token}/cancel",
    response={200: BookingOut, **ERRORS},
    auth=None,
    summary="Link: cancel",
)
def link_cancel(request: HttpRequest, token: str, payload: CancelIn) -> dict[str, Any]:
    """As the resident's cancel. Errors: `link_invalid` (404), `cancel_deadline_passed`,
    `booking_not_cancellable` (409)."""
    booking = _linked(token)
    services.booking_cancel(
        booking=booking, actor=booking.resident, reason=payload.reason, via=VIA_LINK
    )
    return booking_out(selectors.booking_get(booking_id=booking.public_id))


@router.post(
    "/bookings/link/{token}/reschedule",
    response={200: BookingOut, **ERRORS},
    auth=None,
    summary="Link: reschedule",
)
def link_reschedule(request: HttpRequest, token: str, payload: RescheduleIn) -> dict[str, Any]:
    """As the resident's reschedule. Errors: `link_invalid` (404), and those of reschedule."""
    booking = _linked(token)
    services.booking_reschedule(
        booking=booking, starts_at=aware(payload.starts_at), actor=booking.resident, via=VIA_LINK
    )
    return booking_out(selectors.booking_get(booking_id=booking.public_id))


@router.get(
    "/bookings/link/{token}/ics",
    response={200: str, **ERRORS},
    auth=None,
    summary="Link: calendar file (.ics)",
)
def link_ics(request: HttpRequest, token: str) -> HttpResponse:
    """Errors: `link_invalid` (404)."""
    return ics_response(_linked(token))


router.add_router("", staff_router)
