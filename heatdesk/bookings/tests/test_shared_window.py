"""A service-hall window shared by several services: its capacity counts every service's
bookings, at every moment, not each service's own."""

import pytest

from heatdesk.bookings import selectors, services
from heatdesk.bookings.models import Booking, BookingEvent, Slot
from heatdesk.bookings.rules import peak_overlap
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import at, make_counter_service, make_window, plain_users
from heatdesk.core.errors import ApplicationError

pytestmark = pytest.mark.django_db


def book(service, hhmm, user):
    booking, _ = services.booking_create(
        service=service, starts_at=at(TUESDAY, hhmm), created_by=user, resident=user
    )
    return booking


def offered(service) -> dict[str, int]:
    day = at(TUESDAY, "00:00").date()
    return {
        o.starts_at.strftime("%H:%M"): o.remaining
        for o in selectors.availability(
            service=service, community_id=None, date_from=day, date_to=day
        )
    }


@pytest.mark.parametrize(
    ("intervals", "start", "end", "peak"),
    [
        ([], 0, 10, 0),
        ([(0, 10)], 0, 10, 1),
        ([(0, 5), (5, 10)], 0, 10, 1),  # back to back: never two at once
        ([(0, 6), (5, 10)], 0, 10, 2),
        ([(0, 6), (5, 10), (8, 12)], 0, 4, 1),
        ([(0, 6), (5, 10), (8, 12)], 4, 9, 2),
        ([(10, 20)], 0, 10, 0),  # touches the end only
        ([(-5, 1), (-5, 2), (1, 3)], 0, 10, 2),
    ],
)
def test_peak_overlap_counts_the_busiest_moment_of_a_range(intervals, start, end, peak):
    assert peak_overlap(intervals, start, end) == peak


def test_two_services_sharing_a_window_never_fill_it_beyond_its_capacity(clock):
    # given a window serving three at a time, and two services each allowed two per slot
    window = make_window(capacity=3)
    first = make_counter_service(window, capacity_per_slot=2)
    second = make_counter_service(window, capacity_per_slot=2)
    users = plain_users(4)
    book(first, "10:00", users[0])
    book(first, "10:00", users[1])
    assert offered(second)["10:00"] == 1
    book(second, "10:00", users[2])
    # when a fourth person books the other service at the same time
    with pytest.raises(ApplicationError) as refused:
        book(second, "10:00", users[3])
    # then the window is full for both services, and nothing of the refused attempt stays
    assert refused.value.code == "slot_taken"
    assert Booking.objects.filter(resource=window, status="confirmed").count() == 3
    assert not Booking.objects.filter(resident=users[3]).exists()
    assert Slot.objects.get(service=second, starts_at=at(TUESDAY, "10:00")).booked == 1
    assert "10:00" not in offered(first)
    assert "10:00" not in offered(second)
    assert offered(second)["10:30"] == 2


def test_a_longer_service_holds_the_window_across_the_other_services_slots(clock):
    # given a one-person window shared by a 60-minute and a 30-minute service
    window = make_window(capacity=1)
    long = make_counter_service(window, duration_minutes=60, capacity_per_slot=1)
    short = make_counter_service(window, duration_minutes=30, capacity_per_slot=1)
    users = plain_users(3)
    book(long, "10:00", users[0])
    # then the short service cannot start inside the hour, and can right after it
    assert "10:00" not in offered(short)
    assert "10:30" not in offered(short)
    assert "11:00" in offered(short)
    with pytest.raises(ApplicationError) as refused:
        book(short, "10:30", users[1])
    assert refused.value.code == "slot_taken"
    assert book(short, "11:00", users[2]).status == "confirmed"
    # and the long service cannot start at 09:30 either (it would run into 10:00)
    assert "09:30" not in offered(long)
    assert Booking.objects.filter(resource=window).count() == 2


def test_a_cancellation_of_one_service_frees_the_window_for_the_other(clock):
    window = make_window(capacity=1)
    first = make_counter_service(window, capacity_per_slot=1)
    second = make_counter_service(window, capacity_per_slot=1)
    users = plain_users(2)
    taken = book(first, "10:00", users[0])
    assert "10:00" not in offered(second)
    # when
    services.booking_cancel(booking=taken, actor=users[0])
    # then
    assert offered(second)["10:00"] == 1
    assert book(second, "10:00", users[1]).status == "confirmed"
    assert Booking.objects.filter(resource=window, status="confirmed").count() == 1


def test_reschedule_into_a_window_full_of_another_service_changes_nothing(clock):
    window = make_window(capacity=1)
    first = make_counter_service(window, capacity_per_slot=1)
    second = make_counter_service(window, capacity_per_slot=1)
    users = plain_users(2)
    book(first, "11:00", users[0])
    mine = book(second, "10:00", users[1])
    # when
    with pytest.raises(ApplicationError) as refused:
        services.booking_reschedule(booking=mine, starts_at=at(TUESDAY, "11:00"), actor=users[1])
    # then
    assert refused.value.code == "slot_taken"
    mine.refresh_from_db()
    assert mine.starts_at == at(TUESDAY, "10:00")
    assert mine.status == "confirmed"
    assert Slot.objects.get(pk=mine.slot_id).booked == 1
    assert not Slot.objects.filter(service=second, starts_at=at(TUESDAY, "11:00"), booked__gt=0)
    assert not BookingEvent.objects.filter(kind="rescheduled").exists()


def test_a_booking_may_move_within_its_own_place_of_a_full_window(clock):
    # a 60-minute booking moved by half an hour overlaps only itself
    window = make_window(capacity=1)
    long = make_counter_service(window, duration_minutes=60, capacity_per_slot=1)
    users = plain_users(1)
    mine = book(long, "10:00", users[0])
    moved = services.booking_reschedule(
        booking=mine, starts_at=at(TUESDAY, "10:30"), actor=users[0]
    )
    assert moved.starts_at == at(TUESDAY, "10:30")
    assert Slot.objects.get(service=long, starts_at=at(TUESDAY, "10:00")).booked == 0
    assert Slot.objects.get(service=long, starts_at=at(TUESDAY, "10:30")).booked == 1


def test_an_expired_hold_of_another_service_does_not_block_the_window(clock):
    window = make_window(capacity=1)
    first = make_counter_service(window, capacity_per_slot=1, hold_minutes=5)
    second = make_counter_service(window, capacity_per_slot=1)
    users = plain_users(2)
    held, _ = services.booking_create(
        service=first,
        starts_at=at(TUESDAY, "10:00"),
        created_by=users[0],
        resident=users[0],
        hold=True,
    )
    assert "10:00" not in offered(second)
    clock.shift(6 * 60)
    assert offered(second)["10:00"] == 1
    assert book(second, "10:00", users[1]).status == "confirmed"
    held.refresh_from_db()
    assert held.status == "held"  # it lapses through the expiry job; it holds no place now
