import json

import pytest

from heatdesk.bookings.models import Booking, BookingEvent, CalendarDay, HouseQuota, Slot
from heatdesk.bookings.tests.conftest import TUESDAY, WEDNESDAY
from heatdesk.bookings.tests.factories import bind, community_of
from heatdesk.notifications.models import OutboundSms
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db


def book(api, *, starts_at, house=None, key="key-1", service="repair", hold=False):
    payload = {"service": service, "starts_at": starts_at, "hold": hold, "note": "暖气片不热"}
    if house is not None:
        payload["house_id"] = house.public_id
    return api.post("bookings", payload, headers={"Idempotency-Key": key})


def test_a_resident_books_a_visit_and_gets_a_confirmation_sms(clock, resident_api, home, repair):
    # when
    answer = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home)
    # then
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "confirmed"
    assert body["starts_at"] == "2026-12-01T14:00:00+08:00"
    assert body["ends_at"] == "2026-12-01T15:00:00+08:00"
    assert body["house_id"] == home.public_id
    assert body["can_cancel"] is True
    assert [e["kind"] for e in body["history"]] == ["created"]
    booking = Booking.objects.get()
    assert booking.public_id == body["id"]
    assert booking.code == body["code"]
    assert booking.exclusive is True
    assert booking.slot is None
    assert booking.blocked_from.isoformat() == "2026-12-01T05:30:00+00:00"
    assert booking.blocked_until.isoformat() == "2026-12-01T07:30:00+00:00"
    assert booking.contact_phone == "13812345678"
    assert HouseQuota.objects.get(house=home, service=repair).active == 1
    sms = OutboundSms.objects.get()
    assert sms.template == "booking_confirmed"
    assert sms.phone == "13812345678"
    params = json.loads(sms.params_json)
    assert params["code"] == booking.code
    assert params["time"] == "2026-12-01 14:00"
    assert "/m/b/" in params["link"]


def test_the_same_idempotency_key_returns_the_same_booking_and_books_once(
    clock, resident_api, home, repair
):
    first = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home, key="abc")
    again = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home, key="abc")
    assert first.status_code == 201, first.content
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert Booking.objects.count() == 1
    assert BookingEvent.objects.count() == 1
    assert OutboundSms.objects.count() == 1
    assert HouseQuota.objects.get().active == 1


def test_reusing_an_idempotency_key_for_another_request_is_refused(
    clock, resident_api, home, repair
):
    book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home, key="abc")
    other = book(resident_api, starts_at=f"{WEDNESDAY}T09:00:00+08:00", house=home, key="abc")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert Booking.objects.count() == 1
    assert OutboundSms.objects.count() == 1


def test_a_create_without_an_idempotency_key_is_refused(clock, resident_api, home, repair):
    answer = resident_api.post(
        "bookings",
        {"service": "repair", "starts_at": f"{TUESDAY}T14:00:00+08:00", "house_id": home.public_id},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "idempotency_key_required"
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("starts_at", "code"),
    [
        ("2026-11-30T09:30:00+08:00", "booking_too_soon"),  # inside the 2 h notice
        ("2026-11-29T14:00:00+08:00", "booking_too_soon"),  # yesterday
        ("2026-12-15T09:00:00+08:00", "booking_too_far"),  # beyond 14 days
        ("2026-12-01T09:10:00+08:00", "slot_unavailable"),  # off the grid
        ("2026-12-01T12:30:00+08:00", "slot_unavailable"),  # lunch break
        ("2026-12-05T09:00:00+08:00", "slot_unavailable"),  # Saturday
        ("2026-12-02T09:00:00+08:00", "slot_unavailable"),  # a holiday (below)
    ],
)
def test_time_rules_refuse_and_change_nothing(clock, resident_api, home, repair, starts_at, code):
    CalendarDay.objects.create(date="2026-12-02", kind="holiday", name="测试假日")
    answer = book(resident_api, starts_at=starts_at, house=home)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == code
    assert Booking.objects.count() == 0
    assert HouseQuota.objects.count() == 0
    assert OutboundSms.objects.count() == 0


def test_a_time_without_offset_is_shanghai_time(clock, resident_api, home, repair):
    answer = book(resident_api, starts_at=f"{TUESDAY}T14:00:00", house=home)
    assert answer.status_code == 201, answer.content
    assert answer.json()["starts_at"] == "2026-12-01T14:00:00+08:00"


def test_a_team_busy_within_the_travel_buffer_answers_slot_taken(
    clock, resident_api, neighbour_api, neighbour, home, repair
):
    # given the resident's visit at 14:00 (team blocked 13:30–15:30)
    book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home)
    next_door = make_house(community=community_of(home))
    bind(neighbour, next_door)
    # when the neighbour asks for 15:00, inside the team's travel time
    answer = book(neighbour_api, starts_at=f"{TUESDAY}T15:00:00+08:00", house=next_door)
    # then
    assert answer.status_code == 409
    assert answer.json()["code"] == "slot_taken"
    assert Booking.objects.count() == 1
    assert not HouseQuota.objects.filter(house=next_door, active__gt=0).exists()


def test_the_per_house_limit_of_active_bookings_holds(clock, resident_api, home, repair):
    # the visit service allows two active bookings per house
    for n, day in enumerate(("2026-12-01", "2026-12-02")):
        ok = book(resident_api, starts_at=f"{day}T09:00:00+08:00", house=home, key=f"k{n}")
        assert ok.status_code == 201
    third = book(resident_api, starts_at="2026-12-03T09:00:00+08:00", house=home, key="k3")
    assert third.status_code == 409
    assert third.json()["code"] == "house_booking_limit"
    assert Booking.objects.count() == 2
    assert HouseQuota.objects.get().active == 2


def test_one_resident_cannot_take_two_places_of_one_window_slot(clock, resident_api, counter):
    first = book(resident_api, starts_at=f"{TUESDAY}T10:00:00+08:00", service="counter", key="a")
    second = book(resident_api, starts_at=f"{TUESDAY}T10:00:00+08:00", service="counter", key="b")
    assert first.status_code == 201, first.content
    assert second.status_code == 409
    assert second.json()["code"] == "already_booked"
    assert Booking.objects.count() == 1
    assert Slot.objects.get().booked == 1


def test_booking_for_a_house_that_is_not_mine_is_not_found(clock, resident_api, repair, house_b):
    answer = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=house_b)
    assert answer.status_code == 404
    assert answer.json()["code"] == "house_not_found"
    assert Booking.objects.count() == 0


def test_another_residents_booking_is_not_found(clock, resident_api, neighbour_api, home, repair):
    made = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home).json()
    booking_id = made["id"]
    attempts = [
        neighbour_api.get(f"bookings/{booking_id}"),
        neighbour_api.get(f"bookings/{booking_id}/ics"),
        neighbour_api.post(f"bookings/{booking_id}/cancel", {}),
        neighbour_api.post(f"bookings/{booking_id}/confirm"),
        neighbour_api.post(
            f"bookings/{booking_id}/reschedule", {"starts_at": f"{WEDNESDAY}T09:00:00+08:00"}
        ),
    ]
    for answer in attempts:
        assert answer.status_code == 404
        assert answer.json()["code"] == "booking_not_found"
    assert neighbour_api.get("bookings").json() == []
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.version == 1
    assert BookingEvent.objects.count() == 1


def test_services_list_and_my_bookings_with_history(clock, resident_api, home, repair, counter):
    listed = resident_api.get("bookings/services")
    assert listed.status_code == 200
    assert [s["code"] for s in listed.json()] == ["counter", "repair"]
    made = book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home).json()
    resident_api.post(f"bookings/{made['id']}/cancel", {"reason": "已自行修好"})
    mine = resident_api.get("bookings").json()
    assert [b["id"] for b in mine] == [made["id"]]
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in mine[0]["history"]] == [
        ("created", "", "confirmed"),
        ("status", "confirmed", "cancelled"),
    ]
    assert mine[0]["history"][1]["reason"] == "已自行修好"


def test_my_bookings_answer_in_a_fixed_number_of_queries(
    clock, resident_api, home, repair, counter
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listing_queries():
        with CaptureQueriesContext(connection) as captured:
            assert resident_api.get("bookings").status_code == 200
        return len(captured)

    book(resident_api, starts_at=f"{TUESDAY}T09:00:00+08:00", house=home, key="a")
    one = listing_queries()
    book(resident_api, starts_at=f"{TUESDAY}T14:00:00+08:00", house=home, key="b")
    for n, hhmm in enumerate(("10:00", "11:00", "11:30")):
        book(resident_api, starts_at=f"{WEDNESDAY}T{hhmm}:00+08:00", service="counter", key=f"c{n}")
    assert listing_queries() == one
    assert one <= 10
