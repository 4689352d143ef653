"""A booking write that cannot get its lock in time answers `busy_try_again` (503) in the API's
error format, and writes nothing, on both databases.

SQLite: another connection holds the write lock (BEGIN IMMEDIATE), and the request's busy
timeout is shortened so the test does not wait the production 20 s. PostgreSQL: another
connection holds the window's row lock (or, for a cancel, the slot counter's), and the
booking's lock_timeout is shortened.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, connections

from heatdesk.bookings import capacity
from heatdesk.bookings.models import Booking, Slot
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.notifications.models import OutboundSms

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_MS = 300


@contextmanager
def locked_by_another_writer(window, *, table: str = "bookings_resource") -> Iterator[None]:
    if connection.vendor == "sqlite":
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {WAIT_MS}")
        try:
            yield
        finally:
            other.rollback()
            other.close()
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 20000")
        return
    other_db = connections.create_connection("default")
    other_db.set_autocommit(False)
    with other_db.cursor() as cursor:
        if table == "bookings_resource":
            cursor.execute("SELECT id FROM bookings_resource WHERE id = %s FOR UPDATE", [window.pk])
        else:  # every slot counter of the window
            cursor.execute(
                "SELECT id FROM bookings_slot WHERE resource_id = %s FOR UPDATE", [window.pk]
            )
    try:
        yield
    finally:
        other_db.rollback()
        other_db.close()


def test_a_booking_that_waits_too_long_for_a_lock_is_told_to_try_again(
    shared_database, clock, monkeypatch, resident_api, counter, window
):
    # given another writer holding the lock the booking needs, longer than it may wait
    monkeypatch.setattr(capacity, "LOCK_TIMEOUT_MS", WAIT_MS)
    payload = {"service": "counter", "starts_at": f"{TUESDAY}T10:00:00+08:00"}
    with locked_by_another_writer(window):
        # when
        answer = resident_api.post("bookings", payload, headers={"Idempotency-Key": "busy-1"})
    # then a clear 503 in the one error format, and nothing was written
    assert answer.status_code == 503, answer.content
    body = answer.json()
    assert body["code"] == "busy_try_again"
    assert "稍后重试" in body["message"]
    assert body["fields"] == {}
    assert not Booking.objects.exists()
    assert not Slot.objects.filter(booked__gt=0).exists()
    assert not OutboundSms.objects.exists()
    # and the same request succeeds once the lock is gone
    again = resident_api.post("bookings", payload, headers={"Idempotency-Key": "busy-1"})
    assert again.status_code == 201, again.content
    assert Booking.objects.get().status == "confirmed"
    assert Slot.objects.get().booked == 1


def test_a_cancel_that_waits_too_long_for_a_lock_is_told_to_try_again(
    shared_database, clock, monkeypatch, resident_api, counter, window
):
    # given a booking, and another writer holding its slot counter longer than a cancel may wait
    payload = {"service": "counter", "starts_at": f"{TUESDAY}T10:00:00+08:00"}
    booked = resident_api.post("bookings", payload, headers={"Idempotency-Key": "busy-2"})
    assert booked.status_code == 201, booked.content
    booking_id = booked.json()["id"]
    monkeypatch.setattr(capacity, "LOCK_TIMEOUT_MS", WAIT_MS)
    with locked_by_another_writer(window, table="bookings_slot"):
        # when
        answer = resident_api.post(f"bookings/{booking_id}/cancel", {"reason": ""})
    # then a clear 503, and the booking, its place, its history and its messages are as they were
    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "busy_try_again"
    booking = Booking.objects.get()
    assert (booking.status, booking.version) == ("confirmed", 1)
    assert Slot.objects.get().booked == 1
    assert list(booking.events.values_list("kind", flat=True)) == ["created"]
    assert list(OutboundSms.objects.values_list("template", flat=True)) == ["booking_confirmed"]
    # and the same cancel goes through once the lock is gone
    again = resident_api.post(f"bookings/{booking_id}/cancel", {"reason": ""})
    assert again.status_code == 200, again.content
    assert Booking.objects.get().status == "cancelled"
    assert Slot.objects.get().booked == 0


def test_other_database_errors_are_not_turned_into_busy():
    # only lock timeouts are "busy": any other operational error stays an error
    from django.db import OperationalError

    assert capacity.is_lock_timeout(OperationalError("database is locked"))
    assert not capacity.is_lock_timeout(OperationalError("disk I/O error"))
    assert not capacity.is_lock_timeout(OperationalError("no such table: bookings_slot"))


def test_periodic_jobs_leave_a_busy_row_for_their_next_run(
    shared_database, clock, monkeypatch, counter, window
):
    import datetime as dt

    from heatdesk.bookings import services
    from heatdesk.bookings.tests.factories import at, plain_users

    # given a hold that ran out, and a slot counter that drifted, both on the window's slots
    user = plain_users(1)[0]
    hold, _ = services.booking_create(
        service=counter, starts_at=at(TUESDAY, "10:00"), created_by=user, resident=user, hold=True
    )
    Slot.objects.update(booked=2)
    clock.shift(dt.timedelta(minutes=11))
    monkeypatch.setattr(capacity, "LOCK_TIMEOUT_MS", WAIT_MS)
    with locked_by_another_writer(window, table="bookings_slot"):
        # when the jobs run while a request holds the slot counters
        expired = services.holds_expire()
        fixed = services.slots_reconcile()
    # then they end without waiting for ever or failing, and wrote nothing
    assert (expired, fixed) == (0, 0)
    hold.refresh_from_db()
    assert hold.status == Booking.Status.HELD
    assert Slot.objects.get().booked == 2
    assert list(hold.events.values_list("kind", flat=True)) == ["created"]
    # and their next run, with the lock gone, does the work
    assert services.holds_expire() == 1
    assert services.slots_reconcile() == 1
    hold.refresh_from_db()
    assert hold.status == Booking.Status.EXPIRED
    assert Slot.objects.get().booked == 0
