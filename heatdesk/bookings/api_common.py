"""Helpers both bookings routers share: the error table, time parsing, the idempotency header,
the availability answer and the .ics response."""

import datetime as dt
from typing import Any

from django.http import HttpResponse

from heatdesk.bookings import selectors
from heatdesk.bookings.models import Booking
from heatdesk.bookings.notices import booking_ics
from heatdesk.bookings.presenters import local
from heatdesk.core import clock
from heatdesk.core.api import ErrorOut
from heatdesk.core.errors import ApplicationError, ValidationFailed
from heatdesk.estates.models import House

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,  # busy_try_again: other writers held the database for too long
}
VIA_LINK = "短信链接"


def aware(moment: dt.datetime) -> dt.datetime:
    """A time without an offset is Asia/Shanghai local time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=clock.SHANGHAI)
    return moment


def idempotency_key_required(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise ApplicationError(
            "请求头须带 Idempotency-Key（1–100 个字符），重复提交时保持不变。",
            code="idempotency_key_required",
        )
    return key


def availability_answer(
    *,
    service_code: str,
    house: House | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    ignore_booking_id: int | None = None,
) -> dict[str, Any]:
    service = selectors.service_get(code=service_code)
    if service.requires_house and house is None:
        raise ValidationFailed("该服务需选择已绑定的房屋。", fields={"house_id": ["请选择房屋。"]})
    first = date_from or clock.local_today()
    last = date_to or first + dt.timedelta(days=service.max_days_ahead)
    if last < first or (last - first).days >= selectors.MAX_RANGE_DAYS:
        raise ValidationFailed(
            "日期范围不正确。",
            fields={
                "date_to": [f"结束日期须不早于开始日期，且范围不超过{selectors.MAX_RANGE_DAYS}天。"]
            },
        )
    offers = selectors.availability(
        service=service,
        community_id=house.unit.building.community_id if house else None,
        date_from=first,
        date_to=last,
        ignore_booking_id=ignore_booking_id,
    )
    return {
        "service": service.code,
        "date_from": first,
        "date_to": last,
        "slots": [
            {"starts_at": local(o.starts_at), "ends_at": local(o.ends_at), "remaining": o.remaining}
            for o in offers
        ],
    }


def ics_response(booking: Booking) -> HttpResponse:
    response = HttpResponse(booking_ics(booking), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="booking-{booking.code}.ics"'
    return response
