"""Request (…In) and response (…Out) schemas of the bookings API. Times are ISO 8601 with an
offset; answers show Asia/Shanghai (+08:00), a time without an offset is read as Asia/Shanghai."""

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import Field


class ServiceOut(Schema):
    code: str
    name: str
    description: str
    kind: str
    kind_label: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    slot_interval_minutes: int
    capacity_per_slot: int
    min_notice_minutes: int
    max_days_ahead: int
    cancel_deadline_minutes: int
    reschedule_deadline_minutes: int
    requires_house: bool
    requires_approval: bool
    max_active_per_house: int | None
    hold_minutes: int
    reminder_hours_before: int
    is_active: bool


class StaffServiceOut(ServiceOut):
    resources: list[str]


class ServiceIn(Schema):
    code: str = Field(pattern=r"^[a-z0-9-]{2,40}$")
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    kind: Literal["visit", "counter"]
    duration_minutes: int = Field(ge=1, le=24 * 60)
    buffer_before_minutes: int = Field(0, ge=0, le=24 * 60)
    buffer_after_minutes: int = Field(0, ge=0, le=24 * 60)
    slot_interval_minutes: int = Field(30, ge=5, le=24 * 60)
    capacity_per_slot: int = Field(1, ge=1, le=1000)
    min_notice_minutes: int = Field(120, ge=0)
    max_days_ahead: int = Field(14, ge=0, le=366)
    cancel_deadline_minutes: int = Field(120, ge=0)
    reschedule_deadline_minutes: int = Field(120, ge=0)
    requires_house: bool = True
    requires_approval: bool = False
    max_active_per_house: int | None = Field(1, ge=1)
    hold_minutes: int = Field(10, ge=1, le=24 * 60)
    reminder_hours_before: int = Field(24, ge=0, le=24 * 14)
    is_active: bool = True
    resources: list[str] = []


class ServicePatchIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = None
    duration_minutes: int | None = Field(None, ge=1, le=24 * 60)
    buffer_before_minutes: int | None = Field(None, ge=0, le=24 * 60)
    buffer_after_minutes: int | None = Field(None, ge=0, le=24 * 60)
    slot_interval_minutes: int | None = Field(None, ge=5, le=24 * 60)
    capacity_per_slot: int | None = Field(None, ge=1, le=1000)
    min_notice_minutes: int | None = Field(None, ge=0)
    max_days_ahead: int | None = Field(None, ge=0, le=366)
    cancel_deadline_minutes: int | None = Field(None, ge=0)
    reschedule_deadline_minutes: int | None = Field(None, ge=0)
    requires_house: bool | None = None
    requires_approval: bool | None = None
    max_active_per_house: int | None = Field(None, ge=1)
    hold_minutes: int | None = Field(None, ge=1, le=24 * 60)
    reminder_hours_before: int | None = Field(None, ge=0, le=24 * 14)
    is_active: bool | None = None
    resources: list[str] | None = None


class ResourceIn(Schema):
    code: str = Field(pattern=r"^[a-z0-9-]{2,40}$")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["team", "window"]
    capacity_per_slot: int = Field(1, ge=1, le=1000)
    location: str = Field("", max_length=200)
    communities: list[str] = []
    members: list[str] = []
    is_active: bool = True


class ResourcePatchIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    capacity_per_slot: int | None = Field(None, ge=1, le=1000)
    location: str | None = Field(None, max_length=200)
    communities: list[str] | None = None
    members: list[str] | None = None
    is_active: bool | None = None


class ResourceOut(Schema):
    code: str
    name: str
    kind: str
    kind_label: str
    capacity_per_slot: int
    location: str
    communities: list[str]
    members: list[str]
    is_active: bool


class PeriodIn(Schema):
    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    starts: dt.time
    ends: dt.time


class PlanIn(Schema):
    periods: list[PeriodIn]


class PlanOut(Schema):
    resource: str
    periods: list[PeriodIn]


class DayExceptionIn(Schema):
    date: dt.date
    is_closed: bool = True
    starts: dt.time | None = None
    ends: dt.time | None = None
    reason: str = Field("", max_length=200)


class DayExceptionOut(DayExceptionIn):
    id: int
    resource: str


class CalendarDayIn(Schema):
    date: dt.date
    kind: Literal["holiday", "workday"]
    name: str = Field("", max_length=50)
    works_as_weekday: int = Field(0, ge=0, le=6)


class HolidaysIn(Schema):
    days: list[CalendarDayIn]


class HolidaysOut(Schema):
    year: int
    days: list[CalendarDayIn]


class SlotOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    remaining: int


class AvailabilityOut(Schema):
    service: str
    date_from: dt.date
    date_to: dt.date
    slots: list[SlotOut]


class BookingCreateIn(Schema):
    service: str
    starts_at: dt.datetime
    house_id: str | None = None
    hold: bool = Field(False, description="Hold the place for the service's hold minutes only")
    note: str = Field("", max_length=500)


class StaffBookingCreateIn(Schema):
    service: str
    starts_at: dt.datetime
    house_account_no: str | None = None
    resource: str | None = None
    contact_name: str = Field("", max_length=50)
    contact_phone: str
    note: str = Field("", max_length=500)


class CancelIn(Schema):
    reason: str = Field("", max_length=200)


class StaffCancelIn(Schema):
    reason: str = Field(min_length=1, max_length=200)


class RescheduleIn(Schema):
    starts_at: dt.datetime


class StaffRescheduleIn(Schema):
    starts_at: dt.datetime
    reason: str = Field("", max_length=200)


class AssignIn(Schema):
    technician: str = Field(description="the technician's username")


class OutcomeIn(Schema):
    notes: str = Field("", max_length=2000)


class EventOut(Schema):
    at: dt.datetime
    kind: str
    from_status: str
    to_status: str
    actor: str
    reason: str


class BookingOut(Schema):
    id: str
    code: str
    service: str
    service_name: str
    status: str
    status_label: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    house_id: str | None
    address: str
    location: str
    resource_name: str
    note: str
    hold_expires_at: dt.datetime | None
    cancel_deadline: dt.datetime
    reschedule_deadline: dt.datetime
    can_cancel: bool
    can_reschedule: bool
    link: str
    history: list[EventOut]


class StaffBookingOut(BookingOut):
    resource: str
    contact_name_masked: str
    contact_phone_masked: str
    technician: str | None
    outcome_notes: str
    created_by: str


class PeriodOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime


class ResourceDayOut(Schema):
    resource: str
    name: str
    kind: str
    periods: list[PeriodOut]
    bookings: list[StaffBookingOut]


class ScheduleOut(Schema):
    date: dt.date
    resources: list[ResourceDayOut]
