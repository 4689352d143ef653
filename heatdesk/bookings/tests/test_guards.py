"""Deterministic race tests: the availability a request saw is stale, so only the database's
guard stands between it and an overfull slot or a double-booked team or technician."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from heatdesk.bookings import capacity, services
from heatdesk.bookings.models import Booking, HouseQuota, Slot
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import at, community_of, make_team, plain_users
from heatdesk.core.errors import ApplicationError
from heatdesk.testing import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def stale_availability(monkeypatch):
    """Make the pre-transaction check always see the given resources free."""

    def use(*resources):
        monkeypatch.setattr(services, "_candidates", lambda **kw: list(resources))

    return use


def test_a_full_window_slot_refuses_a_request_that_saw_it_free(clock, counter, stale_availability):
    users = plain_users(3)
    for user in users[:2]:
        services.booking_create(
            service=counter, starts_at=at(TUESDAY, "10:00"), created_by=user, resident=user
        )
    stale_availability(counter.resources.get())
    with pytest.raises(ApplicationError) as refused:
        services.booking_create(
            service=counter, starts_at=at(TUESDAY, "10:00"), created_by=users[2], resident=users[2]
        )
    assert refused.value.code == "slot_taken"
    assert refused.value.status == 409
    assert Slot.objects.get().booked == 2
    assert Booking.objects.count() == 2


def test_the_slot_counter_can_never_exceed_its_capacity(clock, counter):
    # the CheckConstraint is the last line: even a direct UPDATE cannot overfill a slot
    user = plain_users(1)[0]
    services.booking_create(
        service=counter, starts_at=at(TUESDAY, "10:00"), created_by=user, resident=user
    )
    slot = Slot.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=slot.capacity + 1)
    slot.refresh_from_db()
    assert slot.booked == 1


def test_an_overlapping_visit_for_a_busy_team_is_refused_in_the_transaction(
    clock, resident, home, repair, team, stale_availability
):
    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    stale_availability(team)
    with pytest.raises(ApplicationError) as refused:
        services.booking_create(
            service=repair,
            starts_at=at(TUESDAY, "15:00"),
            created_by=resident,
            resident=resident,
            house=home,
        )
    assert refused.value.code == "slot_taken"
    assert Booking.objects.count() == 1
    assert HouseQuota.objects.get().active == 1


def test_postgresql_refuses_overlapping_team_time_even_without_the_code_check(
    clock, resident, home, repair, team, stale_availability, monkeypatch
):
    """On PostgreSQL the exclusion constraint decides; on SQLite the in-transaction check above
    is the guard (the IMMEDIATE transaction holds the write lock), so here we show the
    constraint's absence is exactly what SQLite relies on that check for."""
    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    stale_availability(team)
    monkeypatch.setattr(capacity, "ensure_resource_free", lambda **kw: None)
    if connection.vendor == "postgresql":
        with pytest.raises(ApplicationError) as refused:
            services.booking_create(
                service=repair,
                starts_at=at(TUESDAY, "15:00"),
                created_by=resident,
                resident=resident,
                house=home,
            )
        assert refused.value.code == "slot_taken"
        assert Booking.objects.filter(status="confirmed").count() == 1
        assert HouseQuota.objects.get().active == 1
    else:
        services.booking_create(
            service=repair,
            starts_at=at(TUESDAY, "15:00"),
            created_by=resident,
            resident=resident,
            house=home,
        )
        assert Booking.objects.filter(status="confirmed").count() == 2


def test_a_technician_is_never_in_two_places_at_once(clock, resident, home, repair, agent):
    # given one technician in two teams serving the same community
    tech = make_staff("tech1", "technician")
    first_team = repair.resources.get()
    first_team.members.add(tech)
    second_team = make_team(community_of(home), members=(tech,))
    repair.resources.add(second_team)
    a, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
        resource_id=first_team.pk,
    )
    b, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "15:00"),
        created_by=resident,
        resident=resident,
        house=home,
        resource_id=second_team.pk,
    )
    services.booking_assign(booking=a, technician=tech, actor=agent)
    # when the overlapping second visit is assigned to the same technician
    with pytest.raises(ApplicationError) as busy:
        services.booking_assign(booking=b, technician=tech, actor=agent)
    # then
    assert busy.value.code == "technician_busy"
    b.refresh_from_db()
    assert b.technician is None
    assert b.version == 1


def test_postgresql_refuses_a_double_assignment_even_without_the_code_check(
    clock, resident, home, repair, agent, monkeypatch
):
    tech = make_staff("tech2", "technician")
    first_team = repair.resources.get()
    first_team.members.add(tech)
    second_team = make_team(community_of(home), members=(tech,))
    repair.resources.add(second_team)
    bookings = [
        services.booking_create(
            service=repair,
            starts_at=at(TUESDAY, hhmm),
            created_by=resident,
            resident=resident,
            house=home,
            resource_id=team.pk,
        )[0]
        for hhmm, team in (("14:00", first_team), ("15:00", second_team))
    ]
    services.booking_assign(booking=bookings[0], technician=tech, actor=agent)
    monkeypatch.setattr(capacity, "technician_busy", lambda **kw: False)
    if connection.vendor == "postgresql":
        with pytest.raises(ApplicationError) as busy:
            services.booking_assign(booking=bookings[1], technician=tech, actor=agent)
        assert busy.value.code == "technician_busy"
        assert Booking.objects.filter(technician=tech).count() == 1
    else:
        services.booking_assign(booking=bookings[1], technician=tech, actor=agent)
        assert Booking.objects.filter(technician=tech).count() == 2


def test_a_cancel_racing_an_expiry_frees_the_place_once(clock, counter):
    # given a hold that ran out, read by a cancel before the expiry job flipped it
    user = plain_users(1)[0]
    hold, _ = services.booking_create(
        service=counter, starts_at=at(TUESDAY, "10:00"), created_by=user, resident=user, hold=True
    )
    stale_copy = Booking.objects.get(pk=hold.pk)
    clock.shift(dt.timedelta(minutes=11))
    assert services.holds_expire() == 1
    # when the stale cancel arrives: the compare-and-set sees it moved and refuses cleanly
    with pytest.raises(ApplicationError) as refused:
        services.booking_cancel(booking=stale_copy, actor=user)
    assert refused.value.code == "booking_not_cancellable"
    assert Slot.objects.get().booked == 0
    hold.refresh_from_db()
    assert hold.status == Booking.Status.EXPIRED
