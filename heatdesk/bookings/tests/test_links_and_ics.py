import datetime as dt
import json

import pytest

from heatdesk.bookings import services
from heatdesk.bookings.links import link_token
from heatdesk.bookings.models import Booking, BookingEvent, Slot
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import at
from heatdesk.notifications.models import OutboundSms

pytestmark = pytest.mark.django_db


def visit(resident, house, service, hhmm="14:00"):
    booking, _ = services.booking_create(
        service=service,
        starts_at=at(TUESDAY, hhmm),
        created_by=resident,
        resident=resident,
        house=house,
        contact_phone=resident.phone,
    )
    return booking


def sms_link(template="booking_confirmed"):
    params = json.loads(OutboundSms.objects.get(template=template).params_json)
    # The SMS opens the resident page /m/b/<token>/; the API serves the same token.
    token = params["link"].rstrip("/").rsplit("/", 1)[1]
    return f"bookings/link/{token}"


def test_the_sms_link_shows_and_cancels_the_booking_without_login(
    clock, anon_api, resident, home, repair
):
    booking = visit(resident, home, repair)
    path = sms_link()
    shown = anon_api.get(path)
    assert shown.status_code == 200, shown.content
    assert shown.json()["code"] == booking.code
    cancelled = anon_api.post(f"{path}/cancel", {"reason": "短信取消"})
    assert cancelled.status_code == 200, cancelled.content
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    event = BookingEvent.objects.get(booking=booking, to_status="cancelled")
    assert event.actor == resident
    assert event.reason == "短信取消"


def test_the_sms_link_offers_slots_and_reschedules(clock, anon_api, resident, home, repair):
    booking = visit(resident, home, repair)
    path = sms_link()
    offered = anon_api.get(f"{path}/availability?date_from={TUESDAY}&date_to={TUESDAY}")
    assert offered.status_code == 200
    # its own travel time does not hide the neighbouring slots
    assert "2026-12-01T14:30:00+08:00" in [s["starts_at"] for s in offered.json()["slots"]]
    moved = anon_api.post(f"{path}/reschedule", {"starts_at": f"{TUESDAY}T16:00:00+08:00"})
    assert moved.status_code == 200, moved.content
    booking.refresh_from_db()
    assert booking.starts_at == at(TUESDAY, "16:00")


def test_a_tampered_or_unknown_link_is_not_found_and_changes_nothing(
    clock, anon_api, resident, home, repair
):
    booking = visit(resident, home, repair)
    token = link_token(booking)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other_code = "ZZZZZZZZ" + token[len(booking.code) :]
    for bad in (forged, other_code, "nonsense"):
        answer = anon_api.post(f"bookings/link/{bad}/cancel", {})
        assert answer.status_code == 404
        assert answer.json()["code"] == "link_invalid"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_the_link_expires(clock, anon_api, resident, home, repair):
    booking = visit(resident, home, repair)
    path = f"bookings/link/{link_token(booking)}"
    clock.shift(dt.timedelta(days=91))
    answer = anon_api.get(path)
    assert answer.status_code == 404
    assert answer.json()["code"] == "link_invalid"


def test_an_ics_file_per_booking(clock, resident_api, resident, home, repair):
    booking = visit(resident, home, repair)
    answer = resident_api.get(f"bookings/{booking.public_id}/ics")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/calendar; charset=utf-8"
    assert f"booking-{booking.code}.ics" in answer["Content-Disposition"]
    text = answer.content.decode()
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR"
    assert "DTSTART:20261201T060000Z" in lines
    assert "DTEND:20261201T070000Z" in lines
    assert "SUMMARY:上门维修" in lines
    assert f"UID:{booking.public_id}@heatdesk" in lines
    assert "STATUS:CONFIRMED" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = text.replace("\r\n ", "")
    assert f"LOCATION:{home.address}" in unfolded
    # a cancelled booking's calendar entry says so
    services.booking_cancel(booking=booking, actor=resident)
    again = resident_api.get(f"bookings/{booking.public_id}/ics").content.decode()
    assert "STATUS:CANCELLED" in again.split("\r\n")


def test_a_window_booking_ics_names_the_hall(clock, resident_api, resident, counter):
    booking, _ = services.booking_create(
        service=counter, starts_at=at(TUESDAY, "10:00"), created_by=resident, resident=resident
    )
    text = resident_api.get(f"bookings/{booking.public_id}/ics").content.decode()
    assert "LOCATION:客服中心一楼" in text.split("\r\n")
    assert Slot.objects.get().booked == 1
