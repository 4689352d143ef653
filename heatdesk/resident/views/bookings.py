"""Booking a service: choose a service, a day and a free slot, confirm; my bookings with their
history; cancel and reschedule within the service's rules. The bookings services decide."""

import datetime as dt
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heatdesk.accounts.models import User
from heatdesk.bookings import selectors, services
from heatdesk.bookings.models import ACTIVE_STATUSES, Booking, Service
from heatdesk.core.errors import ApplicationError, NotFound
from heatdesk.estates.models import House
from heatdesk.estates.selectors import bindings_for_resident
from heatdesk.resident import labels
from heatdesk.resident.access import resident_required
from heatdesk.resident.errors import add_service_error, describe_errors, error_message
from heatdesk.resident.forms import BookingConfirmForm, CancelForm, SlotForm
from heatdesk.resident.views.bills import house_of
from heatdesk.resident.views.booking_parts import booking_view, slot_picker, slot_time
from heatdesk.resident.views.pages import not_found


def _service(code: str) -> Service | None:
    try:
        return selectors.service_get(code=code)
    except NotFound:
        return None


def _own(user: User, booking_id: str) -> Booking | None:
    try:
        return selectors.booking_get_for_resident(resident=user, booking_id=booking_id)
    except NotFound:
        return None


def _houses(user: User) -> list[House]:
    return [binding.house for binding in bindings_for_resident(user=user)]


@require_GET
@resident_required
def booking_list(request: HttpRequest, user: User) -> HttpResponse:
    rows = [
        {
            "booking": booking,
            "status_label": labels.label(labels.BOOKING_STATUS, booking.status),
            "active": booking.status in ACTIVE_STATUSES,
        }
        for booking in selectors.bookings_for_resident(resident=user)
    ]
    return render(request, "resident/bookings.html", {"rows": rows})


@require_GET
@resident_required
def service_choose(request: HttpRequest, user: User) -> HttpResponse:
    rows = [
        {"service": service, "kind_label": labels.label(labels.SERVICE_KIND, service.kind)}
        for service in selectors.services_bookable()
    ]
    return render(request, "resident/booking_services.html", {"rows": rows})


def _house_for(request: HttpRequest, user: User, service: Service) -> tuple[House | None, bool]:
    """The house the booking is for (`?house=`, or the only bound one) and whether the page
    must answer 404 (a house that is not the resident's)."""
    if not service.requires_house:
        return None, False
    asked = request.GET.get("house") or request.POST.get("house") or ""
    if asked:
        house = house_of(user, asked)
        return house, house is None
    houses = _houses(user)
    return (houses[0] if len(houses) == 1 else None), False


@require_GET
@resident_required
def slot_choose(request: HttpRequest, user: User, service_code: str) -> HttpResponse:
    service = _service(service_code)
    if service is None:
        return not_found(request)
    house, missing = _house_for(request, user, service)
    if missing:
        return not_found(request)
    context: dict[str, object] = {"service": service, "house": house}
    if service.requires_house and house is None:
        context["houses"] = _houses(user)
        return render(request, "resident/booking_house.html", context)
    context.update(slot_picker(request, service=service, house=house))
    return render(request, "resident/booking_slots.html", context)


@require_http_methods(["GET", "POST"])
@resident_required
def booking_confirm(request: HttpRequest, user: User, service_code: str) -> HttpResponse:
    """GET shows the chosen slot with a fresh idempotency key; POST books it. A repeated POST
    with the same key (a double tap, a resubmitted page) returns the first booking."""
    service = _service(service_code)
    if service is None:
        return not_found(request)
    house, missing = _house_for(request, user, service)
    if missing:
        return not_found(request)
    if request.method == "POST":
        form = BookingConfirmForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                booking, _created = services.booking_create(
                    service=service,
                    starts_at=data["starts_at"],
                    created_by=user,
                    resident=user,
                    house=house,
                    idempotency_key=data["key"],
                    contact_name=user.display_name,
                    contact_phone=user.phone,
                    note=data["note"].strip(),
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("预约成功"))
                return redirect("resident:booking", booking_id=booking.public_id)
        starts_at = slot_time(request.POST.get("starts_at", ""))
    else:
        starts_at = slot_time(request.GET.get("at", ""))
        if starts_at is None:
            return redirect("resident:booking_slots", service_code=service.code)
        form = BookingConfirmForm(
            initial={
                "key": uuid.uuid4().hex,
                "starts_at": starts_at.strftime("%Y-%m-%dT%H:%M"),
                "house": house.public_id if house else "",
            }
        )
    describe_errors(form)
    context = {
        "service": service,
        "house": house,
        "form": form,
        "starts_at": starts_at,
        "ends_at": starts_at + dt.timedelta(minutes=service.duration_minutes)
        if starts_at
        else None,
    }
    return render(request, "resident/booking_confirm.html", context)


@require_GET
@resident_required
def booking_detail(request: HttpRequest, user: User, booking_id: str) -> HttpResponse:
    booking = _own(user, booking_id)
    if booking is None:
        return not_found(request)
    return booking_page(request, booking, base=_own_urls(booking))


def _own_urls(booking: Booking) -> dict[str, str]:
    return {
        "detail": reverse("resident:booking", args=[booking.public_id]),
        "cancel": reverse("resident:booking_cancel", args=[booking.public_id]),
        "reschedule": reverse("resident:booking_reschedule", args=[booking.public_id]),
        "back": reverse("resident:bookings"),
    }


def booking_page(
    request: HttpRequest,
    booking: Booking,
    *,
    base: dict[str, str],
    cancel_form: CancelForm | None = None,
    via_link: bool = False,
    status: int = 200,
) -> HttpResponse:
    cancel_form = cancel_form or CancelForm()
    describe_errors(cancel_form)
    context = {
        "b": booking_view(booking),
        "urls": base,
        "form": cancel_form,
        "via_link": via_link,
    }
    return render(request, "resident/booking.html", context, status=status)


def cancel_booking(
    request: HttpRequest,
    booking: Booking,
    *,
    actor: User | None,
    base: dict[str, str],
    via: str = "",
    via_link: bool = False,
) -> HttpResponse:
    """Cancel through the service; a refusal shows on the booking's page and changes nothing."""
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            services.booking_cancel(
                booking=booking, actor=actor, reason=form.cleaned_data["reason"].strip(), via=via
            )
        except ApplicationError as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("预约已取消"))
            return redirect(base["detail"])
    fresh = selectors.booking_get(booking_id=booking.public_id)
    return booking_page(request, fresh, base=base, cancel_form=form, via_link=via_link)


def reschedule_booking(
    request: HttpRequest,
    booking: Booking,
    *,
    actor: User | None,
    base: dict[str, str],
    via: str = "",
) -> HttpResponse:
    """GET: free slots to move to; POST: move in one step (the old slot stays if it fails)."""
    form = SlotForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.booking_reschedule(
                booking=booking, starts_at=form.cleaned_data["starts_at"], actor=actor, via=via
            )
        except ApplicationError as exc:
            form.add_error(None, error_message(exc))
        else:
            messages.success(request, _("已改约"))
            return redirect(base["detail"])
    describe_errors(form)
    context = {
        "b": booking_view(booking),
        "urls": base,
        "form": form,
        **slot_picker(
            request, service=booking.service, house=booking.house, ignore_booking_id=booking.pk
        ),
    }
    return render(request, "resident/booking_reschedule.html", context)


@require_POST
@resident_required
def booking_cancel(request: HttpRequest, user: User, booking_id: str) -> HttpResponse:
    booking = _own(user, booking_id)
    if booking is None:
        return not_found(request)
    return cancel_booking(request, booking, actor=user, base=_own_urls(booking))


@require_http_methods(["GET", "POST"])
@resident_required
def booking_reschedule(request: HttpRequest, user: User, booking_id: str) -> HttpResponse:
    booking = _own(user, booking_id)
    if booking is None:
        return not_found(request)
    return reschedule_booking(request, booking, actor=user, base=_own_urls(booking))
