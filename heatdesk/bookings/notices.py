"""What a booking tells people: SMS notices (queued in the caller's transaction) and .ics files."""

import datetime as dt

from heatdesk.bookings.links import link_url
from heatdesk.bookings.models import Booking
from heatdesk.core import clock
from heatdesk.notifications.services import sms_queue

SMS_CONFIRMED = "booking_confirmed"
SMS_RECEIVED = "booking_received"
SMS_CHANGED = "booking_changed"
SMS_CANCELLED = "booking_cancelled"
SMS_REMINDER = "booking_reminder"


def sms_params(booking: Booking, template: str, *, reason: str = "") -> dict[str, str]:
    """What the SMS `template` about `booking` fills in."""
    params = {
        "service": booking.service.name,
        "time": clock.format_local(booking.starts_at),
        "code": booking.code,
        "link": link_url(booking),
    }
    if template == SMS_CANCELLED:
        params["reason"] = f"原因：{reason}。" if reason else ""
    return params


def notify(booking: Booking, template: str, *, reason: str = "") -> None:
    """Queue one SMS about `booking` to its contact phone (nothing without a phone)."""
    if not booking.contact_phone:
        return
    params = sms_params(booking, template, reason=reason)
    sms_queue(phone=booking.contact_phone, template=template, params=params)


def created_template(status: str) -> str | None:
    """The SMS a new booking of `status` sends: none for a hold (it is not booked yet)."""
    if status == Booking.Status.CONFIRMED:
        return SMS_CONFIRMED
    if status == Booking.Status.PENDING:
        return SMS_RECEIVED
    return None


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _ics_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    """RFC 5545 §3.1: lines longer than 75 octets continue on the next line after a space."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode()) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return [out[0]] + [" " + part for part in out[1:]]


ICS_STATUS: dict[str, str] = {
    Booking.Status.HELD: "TENTATIVE",
    Booking.Status.PENDING: "TENTATIVE",
    Booking.Status.CONFIRMED: "CONFIRMED",
    Booking.Status.COMPLETED: "CONFIRMED",
    Booking.Status.NO_SHOW: "CONFIRMED",
    Booking.Status.CANCELLED: "CANCELLED",
    Booking.Status.EXPIRED: "CANCELLED",
}


def booking_location(booking: Booking) -> str:
    if booking.house_id is not None and booking.exclusive:
        return booking.house.address if booking.house else ""
    return booking.resource.location or booking.resource.name


def booking_ics(booking: Booking, *, now: dt.datetime | None = None) -> str:
    """A one-event calendar (text/calendar) for the booking; cancelled bookings say so."""
    now = now or clock.now()
    description = (
        f"预约号：{booking.code}\n状态：{booking.get_status_display()}\n{link_url(booking)}"
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//HeatDesk//Bookings//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{booking.public_id}@heatdesk",
        f"DTSTAMP:{_ics_time(now)}",
        f"DTSTART:{_ics_time(booking.starts_at)}",
        f"DTEND:{_ics_time(booking.ends_at)}",
        f"SEQUENCE:{booking.version}",
        f"SUMMARY:{_ics_escape(booking.service.name)}",
        f"LOCATION:{_ics_escape(booking_location(booking))}",
        f"DESCRIPTION:{_ics_escape(description)}",
        f"STATUS:{ICS_STATUS[booking.status]}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    folded = [part for line in lines for part in _fold(line)]
    return "\r\n".join(folded) + "\r\n"
