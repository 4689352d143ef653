"""Home (the bound houses), binding a house, a house's page, and unbinding."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from heatdesk.accounts.models import User
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.billing.selectors.account import bills_of_houses
from heatdesk.bookings import selectors as booking_selectors
from heatdesk.bookings.models import ACTIVE_STATUSES, Booking
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, NotFound
from heatdesk.core.http import client_ip
from heatdesk.core.masking import mask_name, mask_phone
from heatdesk.estates.models import HouseBinding
from heatdesk.estates.selectors import bindings_for_resident, house_get_for_resident
from heatdesk.estates.services import house_bind, house_unbind
from heatdesk.resident import labels
from heatdesk.resident.access import resident_required
from heatdesk.resident.errors import add_service_error, describe_errors
from heatdesk.resident.forms import OWNER_NAME, PHONE_LAST4, BindForm
from heatdesk.resident.views.pages import not_found


def _house_view(binding: HouseBinding) -> dict[str, object]:
    house = binding.house
    unit = house.unit
    building = unit.building
    return {
        "id": house.public_id,
        "account_no": house.account_no,
        "address": house.address,
        "community": building.community.name,
        "building": building.name,
        "unit": unit.name,
        "room": house.room,
        "building_area": house.building_area,
        "heated_area": house.heated_area,
        "usage": labels.label(labels.USAGE_TYPE, house.usage_type),
        "status": house.heating_status,
        "status_label": labels.label(labels.HEATING_STATUS, house.heating_status),
        "relation_label": labels.label(labels.RELATION, binding.relation),
        "owner_masked": mask_name(house.owner_name),
        "bound_at": binding.created_at,
    }


def _owed_today(bindings: list[HouseBinding]) -> dict[int, int]:
    """What settles each house's open bills today (late fees as of today included), read for
    all the houses at once so the home page's queries do not grow with them."""
    today = clock.local_today()
    owed = {binding.house_id: 0 for binding in bindings}
    bills = bills_of_houses(houses=[b.house for b in bindings]).filter(status__in=OPEN)
    for bill in bills:
        owed[bill.house_id] += bill_due_as_of(bill=bill, as_of=today).due_fen
    return owed


def _next_booking(user: User) -> Booking | None:
    """The resident's nearest booking still to come."""
    return (
        booking_selectors.bookings_for_resident(resident=user)
        .filter(status__in=ACTIVE_STATUSES, ends_at__gt=clock.now())
        .order_by("starts_at", "id")
        .first()
    )


@require_GET
@resident_required
def home(request: HttpRequest, user: User) -> HttpResponse:
    bindings = list(bindings_for_resident(user=user))
    owed = _owed_today(bindings)
    houses = [{**_house_view(b), "owed_fen": owed[b.house_id]} for b in bindings]
    upcoming = _next_booking(user)
    context = {
        "houses": houses,
        "phone_masked": mask_phone(user.phone),
        "can_bind": len(houses) < settings.MAX_HOUSES_PER_RESIDENT,
        "upcoming": upcoming,
        "upcoming_status": labels.label(labels.BOOKING_STATUS, upcoming.status) if upcoming else "",
    }
    return render(request, "resident/home.html", context)


@require_http_methods(["GET", "POST"])
@resident_required
def bind(request: HttpRequest, user: User) -> HttpResponse:
    form = BindForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        by_name = data["method"] == OWNER_NAME
        try:
            binding = house_bind(
                user=user,
                account_no=data["account_no"],
                relation=data["relation"],
                owner_name=data[OWNER_NAME] if by_name else "",
                phone_last4="" if by_name else data[PHONE_LAST4],
                ip=client_ip(request),
            )
        except ApplicationError as exc:
            # The service files owner-check errors under owner_name, whichever check was used.
            add_service_error(form, exc, rename={OWNER_NAME: form.owner_field()})
        else:
            messages.success(request, _("绑定成功"))
            return redirect("resident:house", house_id=binding.house.public_id)
    describe_errors(form)
    return render(request, "resident/bind.html", {"form": form})


@require_GET
@resident_required
def detail(request: HttpRequest, user: User, house_id: str) -> HttpResponse:
    try:
        house = house_get_for_resident(resident=user, house_id=house_id)
    except NotFound:
        return not_found(request)
    binding = bindings_for_resident(user=user).filter(house=house).first()
    if binding is None:
        return not_found(request)
    return render(request, "resident/house.html", {"house": _house_view(binding)})


@require_http_methods(["GET", "POST"])
@resident_required
def unbind(request: HttpRequest, user: User, house_id: str) -> HttpResponse:
    """GET asks to confirm; POST ends the binding (its history stays)."""
    if request.method == "POST":
        try:
            house_unbind(user=user, house_public_id=house_id, ip=client_ip(request))
        except NotFound:
            return not_found(request)
        messages.success(request, _("已解绑"))
        return redirect("resident:home")
    try:
        house = house_get_for_resident(resident=user, house_id=house_id)
    except NotFound:
        return not_found(request)
    return render(request, "resident/unbind.html", {"house": house})
