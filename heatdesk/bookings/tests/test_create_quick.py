"""A window booking by the resident themself is written in one statement on PostgreSQL
(quick_create); whatever is unusual makes that statement write nothing and the full path answer.
These tests hold on both databases: the answers and the rows must be those of the full path."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from heatdesk.accounts.services import token_issue
from heatdesk.bookings import quick_create
from heatdesk.bookings.models import (
    Booking,
    BookingEvent,
    CalendarDay,
    DayException,
    HouseQuota,
    Slot,
)
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import make_counter_service, make_window
from heatdesk.notifications.models import OutboundSms
from heatdesk.testing import ApiClient, make_resident

pytestmark = pytest.mark.django_db

BOOKING_FIELDS = [
    f.attname
    for f in Booking._meta.concrete_fields
    if f.attname not in {"id", "public_id", "code", "created_at", "updated_at"}
]


def book(api, hhmm, key, *, service="counter", house=None, hold=False, day=TUESDAY):
    payload = {"service": service, "starts_at": f"{day}T{hhmm}:00+08:00", "hold": hold}
    if house is not None:
        payload["house_id"] = house.public_id
    return api.post("bookings", payload, headers={"Idempotency-Key": key})


def snapshot():
    return (
        Booking.objects.count(),
        BookingEvent.objects.count(),
        OutboundSms.objects.count(),
        sorted(Slot.objects.values_list("starts_at", "booked")),
        sorted(HouseQuota.objects.values_list("house_id", "service_id", "active")),
    )


@pytest.fixture
def queued_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def make_api(db):
    def make(phone):
        return ApiClient(token_issue(user=make_resident(phone)))

    return make


def statements_of(call):
    with CaptureQueriesContext(connection) as queries:
        answer = call()
    return answer, [q["sql"] for q in queries.captured_queries]


def test_on_postgresql_a_window_booking_is_written_by_one_statement(
    clock, queued_tasks, resident_api, counter
):
    # when
    answer, sqls = statements_of(lambda: book(resident_api, "10:00", "q-1"))
    # then
    assert answer.status_code == 201, answer.content
    quick = [sql for sql in sqls if "hd_booking_create" in sql]
    inserts = [sql for sql in sqls if sql.startswith("INSERT")]
    if connection.vendor == "postgresql":
        assert (len(quick), inserts) == (1, [])
    else:
        assert (len(quick), len(inserts)) == (0, 5)  # slot, booking, history, SMS, job
    booking = Booking.objects.get()
    assert (booking.status, booking.slot.booked) == ("confirmed", 1)
    assert DBTaskResult.objects.get().args_kwargs == {
        "args": [OutboundSms.objects.get().pk],
        "kwargs": {},
    }


def test_the_rows_written_are_those_of_the_full_path(
    clock, queued_tasks, resident_api, counter, monkeypatch
):
    # given one booking by the one-statement path (on PostgreSQL) and one by the full path
    quick = book(resident_api, "10:00", "q-2")
    monkeypatch.setattr(quick_create, "applies", lambda **kw: False)
    full = book(resident_api, "10:30", "q-3")
    assert quick.status_code == full.status_code == 201
    # then every column agrees but the time, the ids and what depends on them
    a, b = (Booking.objects.get(public_id=r.json()["id"]) for r in (quick, full))
    differ = {"starts_at", "ends_at", "blocked_from", "blocked_until", "slot_id"}
    differ |= {"idempotency_key", "request_fingerprint", "remind_at"}
    for name in BOOKING_FIELDS:
        if name not in differ:
            assert getattr(a, name) == getattr(b, name), name
    assert (a.ends_at - a.starts_at, a.slot.booked) == (b.ends_at - b.starts_at, b.slot.booked)
    assert a.idempotency_key == "q-2"
    assert len(a.request_fingerprint) == 64
    ea, eb = (BookingEvent.objects.get(booking=x) for x in (a, b))
    for name in ("kind", "from_status", "to_status", "actor_id", "actor_label", "reason", "data"):
        assert getattr(ea, name) == getattr(eb, name), name
    sa, sb = OutboundSms.objects.order_by("pk")
    assert (sa.phone, sa.phone_hash, sa.template, sa.status, sa.attempts) == (
        sb.phone,
        sb.phone_hash,
        sb.template,
        sb.status,
        sb.attempts,
    )
    pa, pb = json.loads(sa.params_json), json.loads(sb.params_json)
    assert (pa["code"], pa["time"], pa["service"]) == (a.code, "2026-12-01 10:00", "营业厅业务办理")
    assert pb["time"] == "2026-12-01 10:30"
    ta, tb = DBTaskResult.objects.order_by("enqueued_at")
    for name in ("status", "priority", "task_path", "queue_name", "backend_name", "run_after"):
        assert getattr(ta, name) == getattr(tb, name), name
    assert (ta.args_kwargs["args"], tb.args_kwargs["args"]) == ([sa.pk], [sb.pk])
    # and the answer equals a fresh read
    assert resident_api.get(f"bookings/{a.public_id}").json() == quick.json()


def test_a_full_slot_answers_slot_taken_and_changes_nothing(
    clock, resident_api, neighbour_api, counter, make_api
):
    # given the slot's two places taken (slot capacity 2)
    assert book(resident_api, "10:00", "f-1").status_code == 201
    assert book(neighbour_api, "10:00", "f-2").status_code == 201
    before = snapshot()
    # when a third resident asks
    answer = book(make_api("13500001111"), "10:00", "f-3")
    # then
    assert answer.status_code == 409, answer.content
    assert answer.json()["code"] == "slot_taken"
    assert snapshot() == before


def test_a_window_full_of_another_service_answers_slot_taken_and_changes_nothing(
    clock, resident_api, neighbour_api
):
    # given a window of one place shared by two services, taken by the first
    window = make_window(capacity=1, code="shared-1", name="共享窗口")
    make_counter_service(window, code="first", capacity_per_slot=1)
    make_counter_service(window, code="second", capacity_per_slot=1)
    assert book(resident_api, "10:00", "w-1", service="first").status_code == 201
    before = snapshot()
    # when the other service asks for the same time
    answer = book(neighbour_api, "10:00", "w-2", service="second")
    # then
    assert answer.status_code == 409, answer.content
    assert answer.json()["code"] == "slot_taken"
    assert snapshot() == before


def test_a_house_at_its_limit_is_refused_and_no_place_is_taken(clock, resident_api, window, home):
    # given a window service allowing one active booking per house, booked once
    make_counter_service(
        window, code="meter", requires_house=True, max_active_per_house=1, capacity_per_slot=2
    )
    assert book(resident_api, "10:00", "h-1", service="meter", house=home).status_code == 201
    before = snapshot()
    # when the same house books another time
    answer = book(resident_api, "11:00", "h-2", service="meter", house=home)
    # then the place taken before the limit was checked is given back with everything else
    assert answer.status_code == 409, answer.content
    assert answer.json()["code"] == "house_booking_limit"
    assert snapshot() == before
    assert HouseQuota.objects.get().active == 1


def test_a_house_below_its_limit_counts_the_booking(clock, resident_api, window, home):
    # given a window service allowing two active bookings per house
    meter = make_counter_service(
        window, code="meter", requires_house=True, max_active_per_house=2, capacity_per_slot=2
    )
    # when the house books twice
    assert book(resident_api, "10:00", "h-3", service="meter", house=home).status_code == 201
    assert book(resident_api, "11:00", "h-4", service="meter", house=home).status_code == 201
    # then
    assert HouseQuota.objects.get(house=home, service=meter).active == 2
    assert sorted(Slot.objects.values_list("booked", flat=True)) == [1, 1]
    assert set(Booking.objects.values_list("house_id", flat=True)) == {home.pk}


def test_a_run_out_hold_on_the_slot_is_expired_and_its_place_taken(
    clock, resident_api, neighbour_api, counter, make_api
):
    # given both places of the slot held, and the holds run out
    for api, key in ((resident_api, "r-1"), (neighbour_api, "r-2")):
        assert book(api, "10:00", key, hold=True).status_code == 201
    clock.shift(dt.timedelta(minutes=counter.hold_minutes + 1))
    # when a third resident books the slot
    answer = book(make_api("13500002222"), "10:00", "r-3")
    # then
    assert answer.status_code == 201, answer.content
    statuses = sorted(Booking.objects.values_list("status", flat=True))
    assert statuses == ["confirmed", "expired", "expired"]
    assert Slot.objects.get().booked == 1


def test_a_repeated_key_answers_the_first_booking_and_a_reused_one_is_refused(
    clock, resident_api, counter
):
    # given
    first = book(resident_api, "10:00", "k-1")
    assert first.status_code == 201
    before = snapshot()
    # when the same request is repeated, then sent again with another time
    again = book(resident_api, "10:00", "k-1")
    other = book(resident_api, "10:30", "k-1")
    # then
    assert again.status_code == 200, again.content
    assert again.json() == first.json()
    assert other.status_code == 409, other.content
    assert other.json()["code"] == "idempotency_key_reused"
    assert snapshot() == before


def test_the_same_resident_cannot_take_two_places_of_one_slot(clock, resident_api, counter):
    # given
    assert book(resident_api, "10:00", "d-1").status_code == 201
    before = snapshot()
    # when the resident books the same slot again with a new key
    answer = book(resident_api, "10:00", "d-2")
    # then
    assert answer.status_code == 409, answer.content
    assert answer.json()["code"] == "already_booked"
    assert snapshot() == before


def test_a_hold_and_an_approval_service_get_their_status_and_only_the_right_sms(
    clock, resident_api, window, counter
):
    # given
    make_counter_service(window, code="approve", requires_approval=True)
    # when
    held = book(resident_api, "10:00", "s-1", hold=True)
    pending = book(resident_api, "11:00", "s-2", service="approve")
    # then
    assert (held.status_code, held.json()["status"]) == (201, "held")
    assert held.json()["hold_expires_at"] == "2026-11-30T08:10:00+08:00"
    assert (pending.status_code, pending.json()["status"]) == (201, "pending")
    assert list(OutboundSms.objects.values_list("template", flat=True)) == ["booking_received"]


@pytest.mark.parametrize("code", ["nope", "paused"])
def test_an_unknown_or_paused_service_is_not_found_and_nothing_is_booked(
    clock, resident_api, window, code
):
    # given
    make_counter_service(window, code="paused", is_active=False)
    # when
    answer = book(resident_api, "10:00", "n-1", service=code)
    # then
    assert answer.status_code == 404, answer.content
    assert answer.json()["code"] == "service_not_found"
    assert snapshot() == (0, 0, 0, [], [])


def test_only_the_active_window_of_a_service_is_booked(clock, resident_api):
    # given a service on a closed-down window and an open one, and a team it also lists
    closed = make_window(capacity=3, code="w-closed", name="旧窗口")
    closed.is_active = False
    closed.save(update_fields=["is_active"])
    open_ = make_window(capacity=3, code="w-open", name="新窗口")
    make_counter_service(closed, open_, code="two")
    # when
    answer = book(resident_api, "10:00", "a-1", service="two")
    # then
    assert answer.status_code == 201, answer.content
    assert answer.json()["resource_name"] == "新窗口"
    assert Booking.objects.get().resource == open_


@pytest.mark.parametrize(
    ("rule", "day", "status", "code"),
    [
        ("closed", TUESDAY, 400, "slot_unavailable"),
        ("holiday", TUESDAY, 400, "slot_unavailable"),
        ("short day", TUESDAY, 400, "slot_unavailable"),
        ("make-up day", "2026-12-06", 201, None),
    ],
)
def test_the_days_exceptions_and_calendar_decide_whether_a_window_opens(
    clock, resident_api, window, counter, rule, day, status, code
):
    # given
    if rule == "closed":
        DayException.objects.create(resource=window, date=day, is_closed=True)
    elif rule == "short day":
        DayException.objects.create(
            resource=window, date=day, is_closed=False, starts=dt.time(8), ends=dt.time(9, 30)
        )
    elif rule == "holiday":
        CalendarDay.objects.create(date=day, kind=CalendarDay.Kind.HOLIDAY)
    else:  # a Sunday worked as a Tuesday
        CalendarDay.objects.create(date=day, kind=CalendarDay.Kind.WORKDAY, works_as_weekday=1)
    # when
    answer = book(resident_api, "10:00", "c-1", day=day)
    # then
    assert answer.status_code == status, answer.content
    if code is not None:
        assert answer.json()["code"] == code
        assert snapshot() == (0, 0, 0, [], [])
    else:
        assert Booking.objects.get().starts_at == dt.datetime.fromisoformat(f"{day}T02:00:00+00:00")
