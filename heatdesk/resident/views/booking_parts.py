"""What the booking pages share: the slot picker and a booking shaped for people."""

import datetime as dt
from collections import OrderedDict
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from heatdesk.bookings import selectors
from heatdesk.bookings.links import link_token
from heatdesk.bookings.models import Booking, Service
from heatdesk.bookings.presenters import booking_out
from heatdesk.core import clock
from heatdesk.estates.models import House
from heatdesk.resident import labels

SLOT_FORMAT = "%Y-%m-%dT%H:%M"


def weekday_label(day: dt.date) -> str:
    names = [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")]
    return names[day.weekday()]


def slot_picker(
    request: HttpRequest,
    *,
    service: Service,
    house: House | None,
    ignore_booking_id: int | None = None,
) -> dict[str, Any]:
    """The days of the bookable window that have a free slot, the day asked for (`?day=`, else
    the first such day) and its free slots, from the bookings' availability selector."""
    today = clock.local_today()
    _earliest, last_day = selectors.bookable_window(service=service, now=clock.now())
    last = min(last_day, today + dt.timedelta(days=selectors.MAX_RANGE_DAYS - 1))
    offers = selectors.availability(
        service=service,
        community_id=house.unit.building.community_id if house else None,
        date_from=today,
        date_to=last,
        ignore_booking_id=ignore_booking_id,
    )
    by_day: OrderedDict[dt.date, list[dict[str, Any]]] = OrderedDict()
    for offer in offers:
        starts = clock.to_local(offer.starts_at)
        by_day.setdefault(starts.date(), []).append(
            {
                "value": starts.strftime(SLOT_FORMAT),
                "starts": starts,
                "ends": clock.to_local(offer.ends_at),
                "remaining": offer.remaining,
            }
        )
    asked = request.GET.get("day", "")
    try:
        chosen = dt.date.fromisoformat(asked) if asked else None
    except ValueError:
        chosen = None
    if chosen not in by_day:
        chosen = next(iter(by_day), None)
    days = [
        {"day": day, "weekday": weekday_label(day), "count": len(slots), "chosen": day == chosen}
        for day, slots in by_day.items()
    ]
    return {"days": days, "day": chosen, "slots": by_day.get(chosen, []) if chosen else []}


def slot_time(value: str) -> dt.datetime | None:
    """A slot value from a link or form (local wall time) as an aware datetime."""
    try:
        return dt.datetime.strptime(value, SLOT_FORMAT).replace(tzinfo=clock.SHANGHAI)
    except (TypeError, ValueError):
        return None


def booking_view(booking: Booking) -> dict[str, Any]:
    """The API's view of a booking (deadlines, what may be done now, history) with labels in
    the visitor's language."""
    out = booking_out(booking)
    out["status_label"] = labels.label(labels.BOOKING_STATUS, booking.status)
    out["kind_label"] = labels.label(labels.SERVICE_KIND, booking.service.kind)
    out["weekday"] = weekday_label(out["starts_at"].date())
    out["history"] = [
        {
            **event,
            "kind_label": labels.label(labels.BOOKING_EVENT, event["kind"]),
            "to_label": labels.label(labels.BOOKING_STATUS, event["to_status"])
            if event["to_status"]
            else "",
        }
        for event in out["history"]
    ]
    out["active"] = selectors.is_active_status(booking.status)
    # The calendar file through the link's API route (the token is the key, as in the SMS).
    out["ics_url"] = f"/api/v1/bookings/link/{link_token(booking)}/ics"
    return out
