"""A booking create costs a fixed number of SQL statements (each one a round trip to the
database, all sequential): pinned here so the booking path cannot silently grow
(bench/README.md, booking-free).

The SMS goes through the production task backend (a queued row, delivered after commit by the
worker), not the tests' immediate one, so its delivery is not counted. On SQLite (the full path)
the outer transaction's SAVEPOINT / RELEASE stand where production has BEGIN / COMMIT, so the
captured count equals production's round trips. On PostgreSQL the writes are one statement
(quick_create), its own transaction in production; the SAVEPOINT / RELEASE the test's outer
transaction puts around it are two round trips production does not make.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from heatdesk.bookings.models import Booking, BookingEvent, Slot
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.notifications.models import OutboundSms

pytestmark = pytest.mark.django_db

# PostgreSQL: token; the service, its windows and their day rules and plans (two prepared
# statements sent together); and the one statement that claims the place and writes the
# booking, its history, the SMS and its delivery job: 3 in production (+ the test's SAVEPOINT /
# RELEASE). Was 19 before the one-statement path.
QUICK_ROUND_TRIPS = 3 + 2
# The full path (SQLite; PostgreSQL when the one statement gives way): token, service,
# idempotency look-up, resources, day rules and plans, booked counts; BEGIN, lock timeout
# (PostgreSQL), slot look-up and insert, stale holds, window lock, window count, slot take,
# booking, history row, SMS row, delivery task, COMMIT. Was 25 (+ 2 reads of the answer) before
# the round-trip rework.
FULL_PATH_ROUND_TRIPS = 19


def pinned_round_trips():
    return QUICK_ROUND_TRIPS if connection.vendor == "postgresql" else FULL_PATH_ROUND_TRIPS


@pytest.fixture
def queued_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def book(api, hhmm, key):
    payload = {"service": "counter", "starts_at": f"{TUESDAY}T{hhmm}:00+08:00"}
    return api.post("bookings", payload, headers={"Idempotency-Key": key})


def round_trips_of(call):
    with CaptureQueriesContext(connection) as queries:
        answer = call()
    return answer, [q["sql"][:160] for q in queries.captured_queries]


@pytest.mark.parametrize("slot_exists", [False, True], ids=["new slot", "existing slot"])
def test_one_booking_create_costs_at_most_the_pinned_round_trips(
    clock, queued_tasks, resident_api, counter, neighbour_api, slot_exists
):
    # given another resident's booking before (a connection prepares its statements once, as
    # a long-lived server connection has), at the same time for an existing slot
    assert book(neighbour_api, "10:00" if slot_exists else "09:00", "rt-0").status_code == 201
    # when
    answer, sqls = round_trips_of(lambda: book(resident_api, "10:00", "rt-1"))
    # then
    assert answer.status_code == 201, answer.content
    assert len(sqls) <= pinned_round_trips(), "\n".join(sqls)
    booking = Booking.objects.get(public_id=answer.json()["id"])
    assert booking.status == Booking.Status.CONFIRMED
    assert Slot.objects.get(pk=booking.slot_id).booked == (2 if slot_exists else 1)
    assert Slot.objects.count() == (1 if slot_exists else 2)
    assert BookingEvent.objects.filter(booking=booking).count() == 1
    assert OutboundSms.objects.count() == 2
    assert DBTaskResult.objects.count() == 2


def test_the_create_answer_is_what_reading_the_booking_back_gives(
    clock, queued_tasks, resident_api, counter
):
    # when
    created = book(resident_api, "10:00", "rt-2")
    # then the answer built from what was just written equals a fresh read of the booking
    assert created.status_code == 201, created.content
    again = resident_api.get(f"bookings/{created.json()['id']}")
    assert again.status_code == 200
    assert created.json() == again.json()
    assert [e["kind"] for e in created.json()["history"]] == ["created"]


def test_a_replayed_create_answers_the_booking_as_it_is_now(
    clock, queued_tasks, resident_api, counter
):
    # given a booking, cancelled since
    first = book(resident_api, "10:00", "rt-3")
    booking_id = first.json()["id"]
    assert resident_api.post(f"bookings/{booking_id}/cancel", {"reason": ""}).status_code == 200
    # when the first request is repeated with its key
    replay = book(resident_api, "10:00", "rt-3")
    # then the same booking, read back with its whole history, and nothing booked again
    assert replay.status_code == 200, replay.content
    body = replay.json()
    assert (body["id"], body["status"]) == (booking_id, "cancelled")
    assert [e["kind"] for e in body["history"]] == ["created", "status"]
    assert Booking.objects.count() == 1
    assert Slot.objects.get().booked == 0
