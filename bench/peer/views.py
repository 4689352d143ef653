"""The peer's one booking endpoint: it books through django-appointment's own functions, in the
order its pages do, so the bench measures the package and not this wrapper.

The package books in three steps: the booking page asks `get_available_slots_ajax` for the staff
member's free slots (`get_available_slots_for_staff`), the client submits one of them to
`appointment_request_submit` (an `AppointmentRequestForm`, saved as is: no availability check),
and `appointment_client_information` creates the `Appointment` (`create_and_save_appointment`).
Here the three run in one request, the slot check immediately before the insert: the narrowest
check-then-act window the package allows. Nothing is locked and no constraint covers a staff
member's time, as in the package. Left out: the session and redirects between the pages, and the
admin e-mail (`notify_admin_about_appointment`) — HeatDesk's booking queues its SMS instead.
"""

import datetime as dt
import json
from typing import Any

from appointment.forms import AppointmentRequestForm
from appointment.models import Service, StaffMember
from appointment.services import get_available_slots_for_staff
from appointment.utils.db_helpers import create_and_save_appointment, get_weekday_num_from_date
from django.contrib.auth import get_user_model
from django.http import HttpRequest, JsonResponse


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "fields": {}}, status=status)


def book(request: HttpRequest) -> JsonResponse:
    """POST {"staff": id, "service": id, "client": user id, "date": "YYYY-MM-DD",
    "start_time": "HH:MM"}: 201 with the appointment, 409 `slot_taken` if the slot is not among
    the staff member's free slots, 400 on bad input."""
    if request.method != "POST":
        return _error(405, "method_not_allowed", "POST only")
    try:
        body: dict[str, Any] = json.loads(request.body)
        day = dt.date.fromisoformat(body["date"])
        starts = dt.datetime.combine(day, dt.time.fromisoformat(body["start_time"]))
        staff = StaffMember.objects.get(pk=int(body["staff"]))
        service = Service.objects.get(pk=int(body["service"]))
        client = get_user_model().objects.get(pk=int(body["client"]))
    except (ValueError, KeyError, TypeError):
        return _error(400, "invalid_input", "staff, service, client, date and start_time")
    except (StaffMember.DoesNotExist, Service.DoesNotExist, get_user_model().DoesNotExist):
        return _error(400, "unknown_reference", "no such staff member, service or client")
    # 1. get_available_slots_ajax: the free slots the booking page offers.
    free = get_available_slots_for_staff(
        day, staff, get_weekday_num_from_date(day), service=service
    )
    if starts not in free:
        return _error(409, "slot_taken", "this slot is not free")
    # 2. appointment_request_submit: the request form, saved without another check.
    form = AppointmentRequestForm(
        {
            "date": day.isoformat(),
            "start_time": starts.time().isoformat(),
            "end_time": (starts + service.duration).time().isoformat(),
            "service": service.pk,
            "staff_member": staff.pk,
        }
    )
    if not form.is_valid():
        return _error(400, "invalid_input", form.errors.as_text())
    appointment_request = form.save()
    # 3. appointment_client_information → create_appointment, for a signed-in client.
    request.user = client
    appointment = create_and_save_appointment(
        appointment_request,
        {"name": client.get_full_name(), "email": client.email},
        {"phone": "", "want_reminder": False, "address": "", "additional_info": ""},
        request,
    )
    return JsonResponse(
        {"id": appointment.pk, "request": appointment_request.pk, "starts_at": starts.isoformat()},
        status=201,
    )
