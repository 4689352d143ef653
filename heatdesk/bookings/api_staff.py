"""Staff endpoints: configuration, schedules, bookings for callers, approvals, assignments,
outcomes. Each operation needs the Django permission named in its description; without it the
answer is `forbidden` (403)."""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Header, Router, Status

from heatdesk.accounts.auth import request_user
from heatdesk.accounts.models import User
from heatdesk.accounts.services import normalize_phone, phone_hash
from heatdesk.bookings import catalog, selectors, services
from heatdesk.bookings.api_common import (
    ERRORS,
    availability_answer,
    aware,
    idempotency_key_required,
)
from heatdesk.bookings.models import Booking, CalendarDay, DayException, Resource, Service
from heatdesk.bookings.presenters import local, resource_out, service_out, staff_booking_out
from heatdesk.bookings.schemas import (
    AssignIn,
    AvailabilityOut,
    DayExceptionIn,
    DayExceptionOut,
    HolidaysIn,
    HolidaysOut,
    OutcomeIn,
    PlanIn,
    PlanOut,
    ResourceIn,
    ResourceOut,
    ResourcePatchIn,
    ScheduleOut,
    ServiceIn,
    ServicePatchIn,
    StaffBookingCreateIn,
    StaffBookingOut,
    StaffCancelIn,
    StaffRescheduleIn,
    StaffServiceOut,
)
from heatdesk.core import clock
from heatdesk.core.errors import NotFound, PermissionDenied, ValidationFailed
from heatdesk.estates.models import House

router = Router(tags=["bookings-staff"])


def staff_with(request: HttpRequest, *perms: str) -> User:
    """The calling staff member, if they hold every permission in `perms`."""
    user = request_user(request)
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("需要工作人员账号。", code="forbidden")
    if not user.has_perms(perms):
        raise PermissionDenied("没有执行此操作的权限。", code="forbidden")
    return user


def _service(code: str) -> Service:
    return selectors.service_get(code=code, active_only=False)


def _resource(code: str) -> Resource:
    resource = Resource.objects.filter(code=code).first()
    if resource is None:
        raise NotFound("未找到该资源。", code="resource_not_found")
    return resource


def _house(account_no: str | None) -> House | None:
    if not account_no:
        return None
    house = (
        House.objects.select_related("unit__building__community")
        .filter(account_no=account_no)
        .first()
    )
    if house is None:
        raise NotFound("未找到该户号。", code="house_not_found")
    return house


# Configuration -------------------------------------------------------------------------------


@router.get("/staff/bookings/services", response={200: list[StaffServiceOut], **ERRORS})
def staff_services(request: HttpRequest) -> list[dict[str, Any]]:
    """All services, inactive ones too. Permission: `bookings.view_service`."""
    staff_with(request, "bookings.view_service")
    return [service_out(s, staff=True) for s in Service.objects.prefetch_related("resources").all()]


@router.post("/staff/bookings/services", response={201: StaffServiceOut, **ERRORS})
def service_create(request: HttpRequest, payload: ServiceIn) -> Status[Any]:
    """Permission: `bookings.add_service`. Errors: `service_exists` (409), `validation_error`
    (422: e.g. a visit service that does not need a house, resources of the wrong kind)."""
    user = staff_with(request, "bookings.add_service")
    data = payload.dict()
    code = data.pop("code")
    service = catalog.service_save(actor=user, code=code, data=data, create=True)
    return Status(201, service_out(service, staff=True))


@router.patch("/staff/bookings/services/{code}", response={200: StaffServiceOut, **ERRORS})
def service_change(request: HttpRequest, code: str, payload: ServicePatchIn) -> dict[str, Any]:
    """Changes the given fields. Permission: `bookings.change_service`. Errors:
    `service_not_found` (404), `validation_error` (422)."""
    user = staff_with(request, "bookings.change_service")
    data = payload.dict(exclude_unset=True)
    service = catalog.service_save(actor=user, code=code, data=data, create=False)
    return service_out(service, staff=True)


@router.get("/staff/bookings/resources", response={200: list[ResourceOut], **ERRORS})
def staff_resources(request: HttpRequest) -> list[dict[str, Any]]:
    """Permission: `bookings.view_resource`."""
    staff_with(request, "bookings.view_resource")
    return [
        resource_out(r) for r in Resource.objects.prefetch_related("communities", "members").all()
    ]


@router.post("/staff/bookings/resources", response={201: ResourceOut, **ERRORS})
def resource_create(request: HttpRequest, payload: ResourceIn) -> Status[Any]:
    """Permission: `bookings.add_resource`. Errors: `resource_exists` (409), `validation_error`
    (422: unknown community or member, a team with more than one place)."""
    user = staff_with(request, "bookings.add_resource")
    data = payload.dict()
    code = data.pop("code")
    resource = catalog.resource_save(actor=user, code=code, data=data, create=True)
    return Status(201, resource_out(resource))


@router.patch("/staff/bookings/resources/{code}", response={200: ResourceOut, **ERRORS})
def resource_change(request: HttpRequest, code: str, payload: ResourcePatchIn) -> dict[str, Any]:
    """Permission: `bookings.change_resource`. Errors: `resource_not_found` (404),
    `validation_error` (422)."""
    user = staff_with(request, "bookings.change_resource")
    resource = catalog.resource_save(
        actor=user, code=code, data=payload.dict(exclude_unset=True), create=False
    )
    return resource_out(resource)


def _plan_out(resource: Resource) -> dict[str, Any]:
    return {
        "resource": resource.code,
        "periods": [
            {"weekday": h.weekday, "starts": h.starts, "ends": h.ends}
            for h in resource.working_hours.order_by("weekday", "starts")
        ],
    }


@router.get("/staff/bookings/resources/{code}/plan", response={200: PlanOut, **ERRORS})
def plan_get(request: HttpRequest, code: str) -> dict[str, Any]:
    """The weekly working plan. Permission: `bookings.view_workinghours`."""
    staff_with(request, "bookings.view_workinghours")
    return _plan_out(_resource(code))


@router.put("/staff/bookings/resources/{code}/plan", response={200: PlanOut, **ERRORS})
def plan_put(request: HttpRequest, code: str, payload: PlanIn) -> dict[str, Any]:
    """Replaces the weekly plan (breaks are the gaps between periods). Permission:
    `bookings.change_workinghours`. Errors: `resource_not_found` (404), `validation_error`
    (422: overlapping periods, end before start)."""
    user = staff_with(request, "bookings.change_workinghours")
    resource = _resource(code)
    catalog.plan_set(
        actor=user,
        resource=resource,
        periods=[(p.weekday, p.starts, p.ends) for p in payload.periods],
    )
    return _plan_out(resource)


def _exception_out(row: DayException) -> dict[str, Any]:
    return {
        "id": row.pk,
        "resource": row.resource.code,
        "date": row.date,
        "is_closed": row.is_closed,
        "starts": row.starts,
        "ends": row.ends,
        "reason": row.reason,
    }


@router.get(
    "/staff/bookings/resources/{code}/exceptions", response={200: list[DayExceptionOut], **ERRORS}
)
def exceptions_list(
    request: HttpRequest, code: str, date_from: dt.date | None = None
) -> list[dict[str, Any]]:
    """Day exceptions from `date_from` (default today). Permission: `bookings.view_dayexception`."""
    staff_with(request, "bookings.view_dayexception")
    resource = _resource(code)
    rows = resource.exceptions.filter(date__gte=date_from or clock.local_today()).select_related(
        "resource"
    )
    return [_exception_out(r) for r in rows]


@router.post(
    "/staff/bookings/resources/{code}/exceptions", response={201: DayExceptionOut, **ERRORS}
)
def exception_add(request: HttpRequest, code: str, payload: DayExceptionIn) -> Status[Any]:
    """Closes a resource for a day, or gives it other hours that day. Permission:
    `bookings.add_dayexception`. Errors: `resource_not_found` (404), `validation_error` (422)."""
    user = staff_with(request, "bookings.add_dayexception")
    row = catalog.exception_add(actor=user, resource=_resource(code), **payload.dict())
    return Status(201, _exception_out(row))


@router.delete("/staff/bookings/exceptions/{exception_id}", response={204: None, **ERRORS})
def exception_remove(request: HttpRequest, exception_id: int) -> Status[Any]:
    """Permission: `bookings.delete_dayexception`. Errors: `exception_not_found` (404)."""
    user = staff_with(request, "bookings.delete_dayexception")
    catalog.exception_remove(actor=user, exception_id=exception_id)
    return Status(204, None)


# The years a holiday calendar can be kept for: beyond them a year is a typing mistake.
CALENDAR_YEARS = range(2000, 2101)


def _calendar_year(year: int) -> int:
    if year not in CALENDAR_YEARS:
        raise ValidationFailed(
            "年份无效。",
            fields={"year": [f"年份须在{CALENDAR_YEARS.start}–{CALENDAR_YEARS.stop - 1}之间。"]},
        )
    return year


def _holidays_out(year: int) -> dict[str, Any]:
    days = CalendarDay.objects.filter(date__year=year).order_by("date")
    return {
        "year": year,
        "days": [
            {"date": d.date, "kind": d.kind, "name": d.name, "works_as_weekday": d.works_as_weekday}
            for d in days
        ],
    }


@router.get("/staff/bookings/holidays/{year}", response={200: HolidaysOut, **ERRORS})
def holidays_get(request: HttpRequest, year: int) -> dict[str, Any]:
    """Public holidays and make-up working days of a year (2000–2100). Permission:
    `bookings.view_calendarday`. Errors: `validation_error` (422: a year outside that range)."""
    staff_with(request, "bookings.view_calendarday")
    return _holidays_out(_calendar_year(year))


@router.put("/staff/bookings/holidays/{year}", response={200: HolidaysOut, **ERRORS})
def holidays_put(request: HttpRequest, year: int, payload: HolidaysIn) -> dict[str, Any]:
    """Replaces the year's holidays and make-up days. Permission: `bookings.change_calendarday`.
    Errors: `validation_error` (422: a year outside 2000–2100, a date outside the year, a date
    twice)."""
    user = staff_with(request, "bookings.change_calendarday")
    year = _calendar_year(year)
    catalog.holidays_set(actor=user, year=year, days=[d.dict() for d in payload.days])
    return _holidays_out(year)


# Schedules and bookings ----------------------------------------------------------------------


@router.get("/staff/bookings/schedule", response={200: ScheduleOut, **ERRORS})
def schedule(
    request: HttpRequest, date: dt.date | None = None, resource: str | None = None
) -> dict[str, Any]:
    """A day's working periods and bookings per resource (default today). Permission:
    `bookings.view_booking`. Errors: `resource_not_found` (404)."""
    staff_with(request, "bookings.view_booking")
    day = date or clock.local_today()
    now = clock.now()
    return {
        "date": day,
        "resources": [
            {
                "resource": row.resource.code,
                "name": row.resource.name,
                "kind": row.resource.kind,
                "periods": [{"starts_at": local(a), "ends_at": local(b)} for a, b in row.periods],
                "bookings": [staff_booking_out(b, now=now) for b in row.bookings],
            }
            for row in selectors.schedule_for_day(day=day, resource_code=resource)
        ],
    }


@router.get("/staff/bookings/availability", response={200: AvailabilityOut, **ERRORS})
def staff_availability(
    request: HttpRequest,
    service: str,
    house_account_no: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[str, Any]:
    """Free slots, for booking on a caller's behalf. Permission: `bookings.book_on_behalf`.
    Errors: `service_not_found`, `house_not_found` (404), `validation_error` (422)."""
    staff_with(request, "bookings.book_on_behalf")
    return availability_answer(
        service_code=service, house=_house(house_account_no), date_from=date_from, date_to=date_to
    )


@router.post("/staff/bookings", response={200: StaffBookingOut, 201: StaffBookingOut, **ERRORS})
def book_on_behalf(
    request: HttpRequest,
    payload: StaffBookingCreateIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Status[Any]:
    """Books for a caller (phone, optional 户号); the caller gets the SMS with the self-service
    link, and the booking shows in their app if they have an account with that phone.
    Permission: `bookings.book_on_behalf`. Errors: as resident create, plus `house_not_found`,
    `resource_not_found` (404)."""
    user = staff_with(request, "bookings.book_on_behalf")
    key = idempotency_key_required(idempotency_key)
    phone = normalize_phone(payload.contact_phone)
    resident = User.objects.filter(phone_hash=phone_hash(phone), is_active=True).first()
    service = _service(payload.service)
    resource_id = _resource(payload.resource).pk if payload.resource else None
    booking, created = services.booking_create(
        service=service,
        starts_at=aware(payload.starts_at),
        created_by=user,
        resident=resident,
        house=_house(payload.house_account_no),
        idempotency_key=key,
        contact_name=payload.contact_name,
        contact_phone=phone,
        note=payload.note,
        resource_id=resource_id,
    )
    return Status(
        201 if created else 200,
        staff_booking_out(selectors.booking_get(booking_id=booking.public_id)),
    )


def _booking(booking_id: str) -> Booking:
    return selectors.booking_get(booking_id=booking_id)


def _answer(booking: Booking) -> dict[str, Any]:
    return staff_booking_out(selectors.booking_get(booking_id=booking.public_id))


@router.get("/staff/bookings/{booking_id}", response={200: StaffBookingOut, **ERRORS})
def staff_detail(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    """Permission: `bookings.view_booking`. Errors: `booking_not_found` (404)."""
    staff_with(request, "bookings.view_booking")
    return _answer(_booking(booking_id))


@router.post("/staff/bookings/{booking_id}/approve", response={200: StaffBookingOut, **ERRORS})
def approve(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    """Pending → confirmed. Permission: `bookings.approve_booking`. Errors: `booking_not_found`
    (404), `booking_state_invalid`, `booking_started`, `booking_changed` (409). To reject,
    cancel with a reason."""
    user = staff_with(request, "bookings.approve_booking")
    return _answer(services.booking_approve(booking=_booking(booking_id), actor=user))


@router.post("/staff/bookings/{booking_id}/cancel", response={200: StaffBookingOut, **ERRORS})
def staff_cancel(request: HttpRequest, booking_id: str, payload: StaffCancelIn) -> dict[str, Any]:
    """Cancels at any time, with a reason (sent to the resident). Permission:
    `bookings.cancel_any_booking`. Errors: `booking_not_found` (404), `booking_not_cancellable`
    (409), `validation_error` (422: no reason)."""
    user = staff_with(request, "bookings.cancel_any_booking")
    booking = services.booking_cancel(
        booking=_booking(booking_id), actor=user, reason=payload.reason, by_staff=True
    )
    return _answer(booking)


@router.post("/staff/bookings/{booking_id}/reschedule", response={200: StaffBookingOut, **ERRORS})
def staff_reschedule(
    request: HttpRequest, booking_id: str, payload: StaffRescheduleIn
) -> dict[str, Any]:
    """Moves a booking, past the resident's deadline too. Permission:
    `bookings.reschedule_any_booking`. Errors: as the resident's reschedule."""
    user = staff_with(request, "bookings.reschedule_any_booking")
    booking = services.booking_reschedule(
        booking=_booking(booking_id),
        starts_at=aware(payload.starts_at),
        actor=user,
        by_staff=True,
        reason=payload.reason,
    )
    return _answer(booking)


@router.post("/staff/bookings/{booking_id}/assign", response={200: StaffBookingOut, **ERRORS})
def assign(request: HttpRequest, booking_id: str, payload: AssignIn) -> dict[str, Any]:
    """Assigns a member of the booking's team. Permission: `bookings.assign_booking`. Errors:
    `booking_not_found`, `technician_not_found` (404), `technician_busy` (409: another job
    overlaps), `booking_state_invalid` (409), `validation_error` (422: not in the team)."""
    user = staff_with(request, "bookings.assign_booking")
    technician = User.objects.filter(username=payload.technician, is_staff=True).first()
    if technician is None:
        raise NotFound("未找到该维修员。", code="technician_not_found")
    booking = services.booking_assign(
        booking=_booking(booking_id), technician=technician, actor=user
    )
    return _answer(booking)


@router.post("/staff/bookings/{booking_id}/complete", response={200: StaffBookingOut, **ERRORS})
def complete(request: HttpRequest, booking_id: str, payload: OutcomeIn) -> dict[str, Any]:
    """Confirmed → completed, with notes. Permission: `bookings.record_booking_outcome`.
    Errors: `booking_not_found` (404), `booking_state_invalid`, `booking_not_started` (409)."""
    user = staff_with(request, "bookings.record_booking_outcome")
    booking = services.booking_record_outcome(
        booking=_booking(booking_id),
        outcome=Booking.Status.COMPLETED,
        notes=payload.notes,
        actor=user,
    )
    return _answer(booking)


@router.post("/staff/bookings/{booking_id}/no-show", response={200: StaffBookingOut, **ERRORS})
def no_show(request: HttpRequest, booking_id: str, payload: OutcomeIn) -> dict[str, Any]:
    """Confirmed → no-show, with notes. Permission: `bookings.record_booking_outcome`.
    Errors: `booking_not_found` (404), `booking_state_invalid`, `booking_not_started` (409)."""
    user = staff_with(request, "bookings.record_booking_outcome")
    booking = services.booking_record_outcome(
        booking=_booking(booking_id),
        outcome=Booking.Status.NO_SHOW,
        notes=payload.notes,
        actor=user,
    )
    return _answer(booking)
