import datetime as dt
import json

import pytest

from heatdesk.bookings import services
from heatdesk.bookings.models import Booking, BookingEvent
from heatdesk.bookings.tests.conftest import NOW, TUESDAY, WEDNESDAY
from heatdesk.bookings.tests.factories import at
from heatdesk.core import periodic
from heatdesk.notifications.models import OutboundSms

pytestmark = pytest.mark.django_db


def visit(resident, house, service, *, day=TUESDAY, hhmm="14:00"):
    booking, _ = services.booking_create(
        service=service,
        starts_at=at(day, hhmm),
        created_by=resident,
        resident=resident,
        house=house,
        contact_phone=resident.phone,
    )
    return booking


def reminders():
    return OutboundSms.objects.filter(template="booking_reminder")


def test_the_reminder_is_sent_once_when_due(clock, resident, home, repair):
    # given a visit on Tuesday 14:00 and reminders 24 hours ahead
    booking = visit(resident, home, repair)
    assert booking.remind_at == at("2026-11-30", "14:00")
    # not before it is due
    clock.move_to(at("2026-11-30", "13:59"))
    assert services.reminders_send() == 0
    # when due, and when the job runs again (or in a second runner)
    clock.move_to(at("2026-11-30", "14:00"))
    assert services.reminders_send() == 1
    assert services.reminders_send() == 0
    clock.shift(dt.timedelta(minutes=5))
    assert services.reminders_send() == 0
    # then one SMS and one history row
    sms = reminders().get()
    assert sms.phone == resident.phone
    assert json.loads(sms.params_json)["time"] == "2026-12-01 14:00"
    booking.refresh_from_db()
    assert booking.reminder_sent_at == at("2026-11-30", "14:00")
    assert BookingEvent.objects.filter(booking=booking, kind="reminded").count() == 1


def test_cancelled_bookings_are_not_reminded(clock, resident, home, repair):
    booking = visit(resident, home, repair)
    services.booking_cancel(booking=booking, actor=resident)
    clock.move_to(at("2026-11-30", "14:00"))
    assert services.reminders_send() == 0
    assert not reminders().exists()


def test_a_booking_made_inside_the_reminder_window_gets_no_extra_reminder(
    clock, resident, home, repair
):
    booking = visit(resident, home, repair, day="2026-11-30", hhmm="15:00")
    assert booking.remind_at is None
    clock.move_to(NOW.replace(hour=14))
    assert services.reminders_send() == 0
    assert OutboundSms.objects.filter(template="booking_confirmed").count() == 1


def test_a_rescheduled_booking_is_reminded_again_for_its_new_time(clock, resident, home, repair):
    booking = visit(resident, home, repair)
    clock.move_to(at("2026-11-30", "14:00"))
    assert services.reminders_send() == 1
    services.booking_reschedule(booking=booking, starts_at=at(WEDNESDAY, "14:00"), actor=resident)
    assert services.reminders_send() == 0
    clock.move_to(at(TUESDAY, "14:00"))
    assert services.reminders_send() == 1
    assert reminders().count() == 2
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_the_booking_jobs_are_registered_with_the_periodic_runner():
    periodic.autodiscover()
    names = {job.name for job in periodic.registered_jobs()}
    assert {"bookings.holds_expire", "bookings.reminders_send", "bookings.slots_reconcile"} <= names
