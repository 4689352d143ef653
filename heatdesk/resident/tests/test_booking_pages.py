"""Booking pages: choose a service, a day and a free slot, confirm once however often it is
tapped; my bookings with their history; cancel and reschedule within the rules; the SMS link's
page without login; nobody else's booking by URL."""

import datetime as dt
import json

import pytest
import time_machine
from django.test import Client

from heatdesk.bookings import services
from heatdesk.bookings.links import link_token
from heatdesk.bookings.models import Booking, BookingEvent, HouseQuota
from heatdesk.bookings.tests.factories import (
    at,
    community_of,
    make_counter_service,
    make_team,
    make_visit_service,
    make_window,
)
from heatdesk.core.clock import SHANGHAI
from heatdesk.notifications.models import OutboundSms

# Monday 30 November 2026, 08:00 in Shanghai; the next days are a normal working week.
NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI)
TUESDAY = "2026-12-01"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def repair(bound_house_a):
    team = make_team(community_of(bound_house_a), code="team-east", name="东区维修一班")
    return make_visit_service(team, code="repair", name="上门维修")


@pytest.fixture
def counter(db):
    window = make_window(capacity=3, code="window-1", name="1号窗口")
    return make_counter_service(window, code="counter", name="营业厅业务办理")


@pytest.fixture
def me(clock, resident) -> Client:
    client = Client()
    client.force_login(resident)
    return client


def _book(client: Client, service, house, when: str, key: str = "k-1", note: str = ""):
    return client.post(
        f"/m/bookings/new/{service.code}/confirm/",
        {"starts_at": when, "key": key, "house": house.public_id if house else "", "note": note},
    )


def _visit(resident, house, service, hhmm: str = "14:00") -> Booking:
    booking, _ = services.booking_create(
        service=service,
        starts_at=at(TUESDAY, hhmm),
        created_by=resident,
        resident=resident,
        house=house,
        contact_phone=resident.phone,
    )
    return booking


def test_services_days_and_free_slots_are_offered(me, repair, counter, bound_house_a):
    services_page = me.get("/m/bookings/new/").content.decode()
    assert "上门维修" in services_page
    assert "营业厅业务办理" in services_page
    # one bound house: the slot page picks it
    slots = me.get("/m/bookings/new/repair/").content.decode()
    assert bound_house_a.address in slots
    assert 'aria-current="date"' in slots
    # Monday 08:00 with 2 hours' notice: the first visit starts at 10:30 (09:00 + buffers…)
    tuesday = me.get(f"/m/bookings/new/repair/?day={TUESDAY}").content.decode()
    assert "2026-12-01 可约时段" in tuesday
    confirm = f"/m/bookings/new/repair/confirm/?house={bound_house_a.public_id}&amp;at="
    assert f"{confirm}{TUESDAY}T09:00" in tuesday
    assert f"{confirm}{TUESDAY}T14:00" in tuesday
    # Saturday is not a working day
    assert "12-05" not in tuesday.split('data-testid="days"')[1].split("</nav>")[0]


def test_confirming_books_once_even_when_tapped_twice(me, resident, repair, bound_house_a):
    page = me.get(
        f"/m/bookings/new/repair/confirm/?house={bound_house_a.public_id}&at={TUESDAY}T14:00"
    ).content.decode()
    assert "2026-12-01 14:00–15:00" in page
    key = page.split('name="key" value="')[1].split('"')[0]
    assert len(key) >= 16

    first = _book(me, repair, bound_house_a, f"{TUESDAY}T14:00", key=key, note="暖气片不热")
    second = _book(me, repair, bound_house_a, f"{TUESDAY}T14:00", key=key, note="暖气片不热")

    booking = Booking.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/m/bookings/{booking.public_id}/"
    assert (booking.status, booking.resident_id, booking.house_id) == (
        "confirmed",
        resident.pk,
        bound_house_a.pk,
    )
    assert booking.note == "暖气片不热"
    assert booking.starts_at == at(TUESDAY, "14:00")
    assert HouseQuota.objects.get(house=bound_house_a, service=repair).active == 1
    assert OutboundSms.objects.filter(template="booking_confirmed").count() == 1
    detail = me.get(first["Location"]).content.decode()
    assert "预约成功" in detail
    assert booking.code in detail
    assert "已确认" in detail


def test_a_taken_slot_is_refused_clearly_and_nothing_is_booked(
    me, resident, neighbour, repair, bound_house_a
):
    from heatdesk.estates.services import house_bind

    house_bind(user=neighbour, account_no="HT10000001", relation="family", owner_name="王秀英")
    _visit(neighbour, bound_house_a, repair, "14:00")
    response = _book(me, repair, bound_house_a, f"{TUESDAY}T14:00", key="k-taken")
    html = response.content.decode()
    assert response.status_code == 200
    assert "该时段刚刚被约满，请选择其他时间。" in html
    assert 'data-testid="pick-again"' in html
    assert not Booking.objects.filter(resident=resident).exists()


def test_a_slot_too_soon_or_off_the_plan_is_refused(me, resident, repair, bound_house_a):
    soon = _book(me, repair, bound_house_a, "2026-11-30T09:00", key="k-soon")
    off = _book(me, repair, bound_house_a, f"{TUESDAY}T12:15", key="k-off")
    missing = _book(me, repair, bound_house_a, "", key="k-none")
    assert "该服务需至少提前2小时预约。" in soon.content.decode()
    assert "该时间不提供此项服务" in off.content.decode()
    assert "请选择时段。" in missing.content.decode()
    assert not Booking.objects.exists()


def test_my_bookings_list_and_history(me, resident, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    listing = me.get("/m/bookings/").content.decode()
    assert booking.code in listing
    assert f'href="/m/bookings/{booking.public_id}/"' in listing
    detail = me.get(f"/m/bookings/{booking.public_id}/").content.decode()
    assert "提交预约" in detail
    ics = detail.split('data-testid="ics-link"')[0].rsplit('href="', 1)[1].split('"')[0]
    calendar = Client().get(ics)
    assert calendar["Content-Type"].startswith("text/calendar")
    assert f"UID:{booking.public_id}@heatdesk" in calendar.content.decode()
    assert 'data-testid="reschedule-link"' in detail
    home = me.get("/m/").content.decode()
    assert 'data-testid="upcoming-booking"' in home
    assert "2026-12-01 14:00" in home


def test_reschedule_moves_the_booking_and_keeps_its_code(me, resident, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    page = me.get(f"/m/bookings/{booking.public_id}/reschedule/?day={TUESDAY}").content.decode()
    assert 'value="2026-12-01T10:00"' in page
    response = me.post(
        f"/m/bookings/{booking.public_id}/reschedule/", {"starts_at": f"{TUESDAY}T10:00"}
    )
    assert response["Location"] == f"/m/bookings/{booking.public_id}/"
    booking.refresh_from_db()
    assert booking.starts_at == at(TUESDAY, "10:00")
    assert booking.status == "confirmed"
    assert BookingEvent.objects.filter(booking=booking, kind="rescheduled").count() == 1
    detail = me.get(response["Location"]).content.decode()
    assert "已改约" in detail
    assert "改约" in detail


def test_reschedule_to_the_same_time_is_refused_and_nothing_moves(
    me, resident, repair, bound_house_a
):
    booking = _visit(resident, bound_house_a, repair)
    response = me.post(
        f"/m/bookings/{booking.public_id}/reschedule/", {"starts_at": f"{TUESDAY}T14:00"}
    )
    assert response.status_code == 200
    assert "新时间与原时间相同。" in response.content.decode()
    booking.refresh_from_db()
    assert (booking.starts_at, booking.version) == (at(TUESDAY, "14:00"), 1)


def test_cancel_frees_the_place_once(me, resident, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    url = f"/m/bookings/{booking.public_id}/cancel/"
    first = me.post(url, {"reason": "已自行修好"})
    second = me.post(url, {"reason": "已自行修好"})
    assert first["Location"] == second["Location"] == f"/m/bookings/{booking.public_id}/"
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert HouseQuota.objects.get(house=bound_house_a, service=repair).active == 0
    assert BookingEvent.objects.filter(booking=booking, to_status="cancelled").count() == 1
    detail = me.get(first["Location"]).content.decode()
    assert "已取消" in detail
    assert 'data-testid="cancel-form"' not in detail


def test_cancel_after_the_deadline_is_refused_and_nothing_changes(resident, repair, bound_house_a):
    with time_machine.travel(NOW, tick=False):
        booking = _visit(resident, bound_house_a, repair, "10:00")
    # four hours before is the deadline: at 07:00 on Tuesday it has passed
    with time_machine.travel(dt.datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI), tick=False):
        client = Client()
        client.force_login(resident)
        detail = client.get(f"/m/bookings/{booking.public_id}/").content.decode()
        response = client.post(f"/m/bookings/{booking.public_id}/cancel/", {"reason": ""})
    assert "已过取消截止时间，如需取消请联系客服。" in detail
    assert 'data-testid="reschedule-link"' not in detail
    assert response.status_code == 200
    assert "已过取消截止时间（2026-12-01 06:00）" in response.content.decode()
    booking.refresh_from_db()
    assert (booking.status, booking.version) == ("confirmed", 1)


def test_another_residents_booking_is_not_found(clock, resident, neighbour, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    other = Client()
    other.force_login(neighbour)
    base = f"/m/bookings/{booking.public_id}/"
    assert other.get(base).status_code == 404
    assert other.get(f"{base}reschedule/").status_code == 404
    assert other.post(f"{base}cancel/", {}).status_code == 404
    assert other.post(f"{base}reschedule/", {"starts_at": f"{TUESDAY}T10:00"}).status_code == 404
    assert other.get(f"/m/bookings/new/repair/?house={bound_house_a.public_id}").status_code == 404
    booking.refresh_from_db()
    assert (booking.status, booking.starts_at) == ("confirmed", at(TUESDAY, "14:00"))


def test_the_sms_link_opens_the_booking_page_without_login(clock, resident, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    params = json.loads(OutboundSms.objects.get(template="booking_confirmed").params_json)
    path = "/m/b/" + link_token(booking) + "/"
    anonymous = Client()
    page = anonymous.get(path)
    assert page.status_code == 200
    assert booking.code in page.content.decode()
    assert params["link"].endswith(path)  # the SMS opens this page

    moved = anonymous.post(f"{path}reschedule/", {"starts_at": f"{TUESDAY}T10:00"})
    assert moved["Location"] == path
    booking.refresh_from_db()
    assert booking.starts_at == at(TUESDAY, "10:00")

    cancelled = anonymous.post(f"{path}cancel/", {"reason": ""})
    assert cancelled["Location"] == path
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    event = BookingEvent.objects.filter(booking=booking, to_status="cancelled").get()
    assert event.actor_id == resident.pk


def test_a_forged_link_is_not_found_and_changes_nothing(clock, resident, repair, bound_house_a):
    booking = _visit(resident, bound_house_a, repair)
    forged = link_token(booking)[:-2] + "xx"
    anonymous = Client()
    refused = anonymous.get(f"/m/b/{forged}/")
    assert refused.status_code == 404
    assert "链接无效或已过期" in refused.content.decode()
    assert 'data-testid="booking-code"' not in refused.content.decode()
    assert "上门维修" not in refused.content.decode()
    assert anonymous.post(f"/m/b/{forged}/cancel/", {}).status_code == 404
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_a_counter_service_needs_no_house(me, resident, counter):
    response = _book(me, counter, None, f"{TUESDAY}T09:00", key="k-counter")
    booking = Booking.objects.get()
    assert response["Location"] == f"/m/bookings/{booking.public_id}/"
    assert booking.house_id is None


def test_with_two_homes_the_resident_picks_one_and_without_any_is_sent_to_bind(
    me, resident, repair, bound_house_a
):
    from heatdesk.estates.services import house_bind
    from heatdesk.testing import make_house

    other = make_house(account_no="HT10000077", owner_name="王秀英")
    house_bind(user=resident, account_no=other.account_no, relation="owner", owner_name="王秀英")
    chooser = me.get("/m/bookings/new/repair/").content.decode()
    assert 'data-testid="booking-houses"' in chooser
    assert f"/m/bookings/new/repair/?house={bound_house_a.public_id}" in chooser
    assert f"/m/bookings/new/repair/?house={other.public_id}" in chooser
    assert 'data-testid="slots"' not in chooser

    from heatdesk.estates.models import HouseBinding

    HouseBinding.objects.filter(user=resident).update(ended_at=NOW)
    unbound = me.get("/m/bookings/new/repair/").content.decode()
    assert 'data-testid="booking-needs-house"' in unbound
    assert 'href="/m/houses/bind/"' in unbound
    assert me.get(f"/m/bookings/new/repair/?house={bound_house_a.public_id}").status_code == 404
    assert me.get("/m/bookings/new/no-such-service/").status_code == 404
