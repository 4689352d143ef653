"""A booking opened from its SMS self-service link: no login, the signed token is the key.

The same pages as a signed-in resident's booking (status, history, cancel, reschedule), acting
as the booking's resident through the services, like the API's link endpoints do.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heatdesk.bookings import selectors
from heatdesk.bookings.api_common import VIA_LINK
from heatdesk.bookings.links import code_from_token
from heatdesk.bookings.models import Booking
from heatdesk.core.errors import NotFound
from heatdesk.resident.views.bookings import booking_page, cancel_booking, reschedule_booking
from heatdesk.resident.views.pages import not_found


def _linked(token: str) -> Booking | None:
    try:
        return selectors.booking_get_by_code(code=code_from_token(token))
    except NotFound:
        return None


def _urls(token: str) -> dict[str, str]:
    return {
        "detail": reverse("resident:link", args=[token]),
        "cancel": reverse("resident:link_cancel", args=[token]),
        "reschedule": reverse("resident:link_reschedule", args=[token]),
        "back": "",
    }


@require_GET
def link_detail(request: HttpRequest, token: str) -> HttpResponse:
    booking = _linked(token)
    if booking is None:
        return not_found(request, link=True)
    return booking_page(request, booking, base=_urls(token), via_link=True)


@require_POST
def link_cancel(request: HttpRequest, token: str) -> HttpResponse:
    booking = _linked(token)
    if booking is None:
        return not_found(request, link=True)
    return cancel_booking(
        request, booking, actor=booking.resident, base=_urls(token), via=VIA_LINK, via_link=True
    )


@require_http_methods(["GET", "POST"])
def link_reschedule(request: HttpRequest, token: str) -> HttpResponse:
    booking = _linked(token)
    if booking is None:
        return not_found(request, link=True)
    return reschedule_booking(
        request, booking, actor=booking.resident, base=_urls(token), via=VIA_LINK
    )
