import datetime as dt

import pytest

from heatdesk.audit.models import AuditEntry
from heatdesk.bookings import services
from heatdesk.bookings.models import Booking, BookingEvent, HouseQuota, Slot
from heatdesk.bookings.tests.conftest import NOW, TUESDAY, WEDNESDAY
from heatdesk.bookings.tests.factories import at, plain_users
from heatdesk.core.errors import ApplicationError
from heatdesk.notifications.models import OutboundSms

pytestmark = pytest.mark.django_db


def visit(resident, house, service, hhmm="14:00", day=TUESDAY, **kw):
    booking, _ = services.booking_create(
        service=service,
        starts_at=at(day, hhmm),
        created_by=resident,
        resident=resident,
        house=house,
        contact_phone=resident.phone,
        **kw,
    )
    return booking


def counter_booking(user, service, hhmm="10:00", day=TUESDAY, **kw):
    booking, _ = services.booking_create(
        service=service, starts_at=at(day, hhmm), created_by=user, resident=user, **kw
    )
    return booking


def statuses(booking):
    return list(
        BookingEvent.objects.filter(booking=booking).values_list("from_status", "to_status")
    )


def test_a_hold_is_confirmed_through_the_api(clock, resident_api, home, repair):
    held = resident_api.post(
        "bookings",
        {
            "service": "repair",
            "starts_at": f"{TUESDAY}T14:00:00+08:00",
            "house_id": home.public_id,
            "hold": True,
        },
        headers={"Idempotency-Key": "h1"},
    )
    assert held.status_code == 201, held.content
    assert held.json()["status"] == "held"
    assert held.json()["hold_expires_at"] == "2026-11-30T08:10:00+08:00"
    assert OutboundSms.objects.count() == 0
    # when
    confirmed = resident_api.post(f"bookings/{held.json()['id']}/confirm")
    twice = resident_api.post(f"bookings/{held.json()['id']}/confirm")
    # then
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    assert twice.status_code == 200
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.CONFIRMED
    assert statuses(booking) == [("", "held"), ("held", "confirmed")]
    assert list(OutboundSms.objects.values_list("template", flat=True)) == ["booking_confirmed"]


def test_an_expired_hold_frees_its_place_in_the_taking_transaction(clock, counter):
    # given a window slot of two places: one hold, one booking
    first, second, third = plain_users(3)
    hold = counter_booking(first, counter, hold=True)
    counter_booking(second, counter)
    with pytest.raises(ApplicationError) as full:
        counter_booking(third, counter)
    assert full.value.code == "slot_taken"
    # when the hold runs out (no job has run), a third resident books
    clock.shift(dt.timedelta(minutes=counter.hold_minutes, seconds=1))
    taken = counter_booking(third, counter)
    # then the hold was expired in the same transaction and its place reused
    hold.refresh_from_db()
    assert hold.status == Booking.Status.EXPIRED
    assert statuses(hold) == [("", "held"), ("held", "expired")]
    assert taken.status == Booking.Status.CONFIRMED
    slot = Slot.objects.get()
    assert slot.booked == 2
    assert Booking.objects.filter(slot=slot, status__in=["held", "confirmed"]).count() == 2


def test_a_teams_expired_hold_frees_its_time_in_the_taking_transaction(clock, home, repair):
    # given a visit held on the team at 14:00 (its buffers block 13:30-15:30)
    resident = home.bindings.get().user
    hold = visit(resident, home, repair, hold=True)
    with pytest.raises(ApplicationError) as busy:
        visit(resident, home, repair, hhmm="14:30")
    assert busy.value.code == "slot_taken"
    # when the hold runs out (no job has run) and an overlapping time is booked
    clock.shift(dt.timedelta(minutes=repair.hold_minutes, seconds=1))
    taken = visit(resident, home, repair, hhmm="14:30")
    # then the hold was expired in the same transaction and the team's time reused
    hold.refresh_from_db()
    assert hold.status == Booking.Status.EXPIRED
    assert statuses(hold) == [("", "held"), ("held", "expired")]
    assert taken.status == Booking.Status.CONFIRMED
    assert HouseQuota.objects.get(house=home).active == 1


def test_confirming_a_hold_that_ran_out_is_refused_and_releases_it(
    clock, resident_api, home, repair
):
    hold = visit(home.bindings.get().user, home, repair, hold=True)
    clock.shift(dt.timedelta(minutes=11))
    answer = resident_api.post(f"bookings/{hold.public_id}/confirm")
    assert answer.status_code == 409
    assert answer.json()["code"] == "hold_expired"
    hold.refresh_from_db()
    assert hold.status == Booking.Status.EXPIRED
    assert HouseQuota.objects.get().active == 0
    assert OutboundSms.objects.count() == 0


def test_the_expiry_job_expires_holds_and_unapproved_bookings_once(clock, counter, repair):
    first, second = plain_users(2)
    hold = counter_booking(first, counter, hold=True)
    counter.requires_approval = True
    counter.save(update_fields=["requires_approval"])
    pending = counter_booking(second, counter, hhmm="11:00", day="2026-11-30")
    assert pending.status == Booking.Status.PENDING
    # when: after the hold ran out, then after the pending booking's start
    clock.shift(dt.timedelta(minutes=11))
    assert services.holds_expire() == 1
    assert services.holds_expire() == 0
    clock.move_to(NOW.replace(hour=11, minute=0))
    assert services.holds_expire() == 1
    # then
    hold.refresh_from_db()
    pending.refresh_from_db()
    assert hold.status == pending.status == Booking.Status.EXPIRED
    assert list(Slot.objects.values_list("booked", flat=True)) == [0, 0]
    assert BookingEvent.objects.filter(to_status="expired").count() == 2


def test_an_unapproved_booking_lapses_at_its_start_and_the_resident_is_told(
    clock, resident, home, repair, agent
):
    repair.requires_approval = True
    repair.save(update_fields=["requires_approval"])
    booking, _ = services.booking_create(
        service=repair,
        starts_at=at("2026-11-30", "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
        contact_phone=resident.phone,
    )
    clock.move_to(at("2026-11-30", "14:00"))
    with pytest.raises(ApplicationError) as late:
        services.booking_approve(booking=booking, actor=agent)
    assert late.value.code == "booking_started"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert services.holds_expire() == 1
    booking.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
    assert HouseQuota.objects.get().active == 0
    lapsed = OutboundSms.objects.get(template="booking_cancelled")
    assert "未能在开始前完成审核" in lapsed.params_json


def test_a_service_that_needs_approval_is_pending_until_staff_approve(
    clock, resident, home, repair, agent
):
    repair.requires_approval = True
    repair.save(update_fields=["requires_approval"])
    booking = visit(resident, home, repair)
    assert booking.status == Booking.Status.PENDING
    approved = services.booking_approve(booking=booking, actor=agent)
    assert approved.status == Booking.Status.CONFIRMED
    assert statuses(booking) == [("", "pending"), ("pending", "confirmed")]
    assert list(OutboundSms.objects.order_by("pk").values_list("template", flat=True)) == [
        "booking_received",
        "booking_confirmed",
    ]
    entry = AuditEntry.objects.get(action="booking.approve")
    assert entry.actor == agent


def test_a_resident_cancels_before_the_deadline(clock, resident_api, resident, home, repair):
    booking = visit(resident, home, repair)
    answer = resident_api.post(f"bookings/{booking.public_id}/cancel", {"reason": "不需要了"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "cancelled"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert HouseQuota.objects.get().active == 0
    assert statuses(booking)[-1] == ("confirmed", "cancelled")
    assert OutboundSms.objects.filter(template="booking_cancelled").count() == 1


def test_a_resident_cannot_cancel_after_the_deadline_but_staff_can(
    clock, resident_api, resident, home, repair, agent
):
    # given a visit at 14:00 tomorrow with a 4-hour cancellation deadline (10:00)
    booking = visit(resident, home, repair)
    clock.move_to(at(TUESDAY, "10:01"))
    # when the resident tries
    late = resident_api.post(f"bookings/{booking.public_id}/cancel", {})
    # then nothing changed
    assert late.status_code == 409
    assert late.json()["code"] == "cancel_deadline_passed"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert HouseQuota.objects.get().active == 1
    assert len(statuses(booking)) == 1
    # staff need a reason, then may cancel at any time
    with pytest.raises(ApplicationError) as no_reason:
        services.booking_cancel(booking=booking, actor=agent, reason=" ", by_staff=True)
    assert no_reason.value.code == "validation_error"
    services.booking_cancel(booking=booking, actor=agent, reason="班组临时抢修", by_staff=True)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert AuditEntry.objects.get(action="booking.cancel").reason == "班组临时抢修"
    assert "班组临时抢修" in OutboundSms.objects.get(template="booking_cancelled").params_json


def test_a_double_clicked_cancel_frees_one_place_only(clock, counter):
    first, second = plain_users(2)
    mine = counter_booking(first, counter)
    counter_booking(second, counter)
    assert Slot.objects.get().booked == 2
    # when the cancel arrives twice (a double click)
    services.booking_cancel(booking=mine, actor=first)
    again = services.booking_cancel(booking=mine, actor=first)
    # then one place was freed, once
    assert again.status == Booking.Status.CANCELLED
    assert Slot.objects.get().booked == 1
    assert BookingEvent.objects.filter(booking=mine, to_status="cancelled").count() == 1


def test_a_double_clicked_cancel_over_the_api_answers_the_same_twice(
    clock, resident_api, resident, counter
):
    mine = counter_booking(resident, counter)
    answers = [resident_api.post(f"bookings/{mine.public_id}/cancel", {}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert {a.json()["status"] for a in answers} == {"cancelled"}
    assert Slot.objects.get().booked == 0


def test_a_cancelled_or_completed_booking_cannot_be_cancelled_again_differently(
    clock, resident, home, repair, agent
):
    booking = visit(resident, home, repair)
    clock.move_to(at(TUESDAY, "15:00"))
    services.booking_record_outcome(booking=booking, outcome="completed", notes="", actor=agent)
    with pytest.raises(ApplicationError) as refused:
        services.booking_cancel(booking=booking, actor=agent, reason="误操作", by_staff=True)
    assert refused.value.code == "booking_not_cancellable"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.COMPLETED


def test_reschedule_takes_the_new_slot_and_gives_back_the_old(
    clock, resident_api, resident, counter
):
    booking = counter_booking(resident, counter, contact_phone=resident.phone)
    answer = resident_api.post(
        f"bookings/{booking.public_id}/reschedule", {"starts_at": f"{TUESDAY}T11:00:00+08:00"}
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["starts_at"] == "2026-12-01T11:00:00+08:00"
    assert answer.json()["code"] == booking.code
    slots = {s.starts_at: s.booked for s in Slot.objects.all()}
    assert slots == {at(TUESDAY, "10:00"): 0, at(TUESDAY, "11:00"): 1}
    booking.refresh_from_db()
    assert booking.version == 2
    moved = BookingEvent.objects.get(booking=booking, kind="rescheduled")
    assert moved.data["from"] == "2026-12-01T02:00:00+00:00"
    assert OutboundSms.objects.filter(template="booking_changed").count() == 1


def test_reschedule_into_a_full_slot_leaves_the_booking_untouched(
    clock, resident_api, resident, counter
):
    booking = counter_booking(resident, counter, contact_phone=resident.phone)
    for user in plain_users(2):
        counter_booking(user, counter, hhmm="11:00")
    sms_before = OutboundSms.objects.count()
    # when
    answer = resident_api.post(
        f"bookings/{booking.public_id}/reschedule", {"starts_at": f"{TUESDAY}T11:00:00+08:00"}
    )
    # then
    assert answer.status_code == 409
    assert answer.json()["code"] == "slot_taken"
    booking.refresh_from_db()
    assert booking.starts_at == at(TUESDAY, "10:00")
    assert booking.version == 1
    assert booking.status == Booking.Status.CONFIRMED
    assert {s.starts_at: s.booked for s in Slot.objects.all()} == {
        at(TUESDAY, "10:00"): 1,
        at(TUESDAY, "11:00"): 2,
    }
    assert not BookingEvent.objects.filter(kind="rescheduled").exists()
    assert OutboundSms.objects.count() == sms_before


def test_reschedule_is_atomic_when_the_guard_refuses_inside_the_transaction(
    clock, resident, counter, monkeypatch
):
    # given stale availability that still shows 11:00 free although it filled up meanwhile
    booking = counter_booking(resident, counter)
    for user in plain_users(2):
        counter_booking(user, counter, hhmm="11:00")
    from heatdesk.bookings import services as booking_services

    window = counter.resources.get()
    monkeypatch.setattr(booking_services, "_candidates", lambda **kw: [window])
    # when
    with pytest.raises(ApplicationError) as refused:
        services.booking_reschedule(booking=booking, starts_at=at(TUESDAY, "11:00"), actor=resident)
    # then the database refused the take and the old place was never given back
    assert refused.value.code == "slot_taken"
    booking.refresh_from_db()
    assert (booking.starts_at, booking.version) == (at(TUESDAY, "10:00"), 1)
    assert {s.starts_at: s.booked for s in Slot.objects.all()} == {
        at(TUESDAY, "10:00"): 1,
        at(TUESDAY, "11:00"): 2,
    }


def test_reschedule_after_the_deadline_is_refused(clock, resident_api, resident, home, repair):
    booking = visit(resident, home, repair)
    clock.move_to(at(TUESDAY, "10:30"))
    answer = resident_api.post(
        f"bookings/{booking.public_id}/reschedule", {"starts_at": f"{WEDNESDAY}T14:00:00+08:00"}
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "reschedule_deadline_passed"
    booking.refresh_from_db()
    assert booking.starts_at == at(TUESDAY, "14:00")
    assert booking.version == 1


def test_a_visit_can_move_into_its_own_travel_time(clock, resident, home, repair):
    booking = visit(resident, home, repair)
    moved = services.booking_reschedule(
        booking=booking, starts_at=at(TUESDAY, "14:30"), actor=resident
    )
    assert moved.starts_at == at(TUESDAY, "14:30")
    assert Booking.objects.filter(status="confirmed").count() == 1


def test_outcomes_are_recorded_once_the_visit_has_begun(clock, resident, home, repair, agent):
    booking = visit(resident, home, repair)
    with pytest.raises(ApplicationError) as early:
        services.booking_record_outcome(booking=booking, outcome="no_show", notes="", actor=agent)
    assert early.value.code == "booking_not_started"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    clock.move_to(at(TUESDAY, "14:20"))
    done = services.booking_record_outcome(
        booking=booking, outcome="no_show", notes="敲门无人应答", actor=agent
    )
    assert done.status == Booking.Status.NO_SHOW
    booking.refresh_from_db()
    assert booking.outcome_notes == "敲门无人应答"
    assert HouseQuota.objects.get().active == 0
    assert AuditEntry.objects.filter(action="booking.no_show").count() == 1
