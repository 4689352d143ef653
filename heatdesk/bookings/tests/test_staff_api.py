import pytest

from heatdesk.accounts.roles import ROLE_AGENT, ROLE_TECHNICIAN
from heatdesk.accounts.services import token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.bookings import services
from heatdesk.bookings.models import Booking, CalendarDay, DayException, Resource, Service
from heatdesk.bookings.tests.conftest import TUESDAY, WEDNESDAY
from heatdesk.bookings.tests.factories import at, grant
from heatdesk.notifications.models import OutboundSms
from heatdesk.testing import ApiClient, make_staff

pytestmark = pytest.mark.django_db

CONFIG_PERMS = (
    "bookings.view_service",
    "bookings.add_service",
    "bookings.change_service",
    "bookings.view_resource",
    "bookings.add_resource",
    "bookings.change_resource",
    "bookings.view_workinghours",
    "bookings.change_workinghours",
    "bookings.view_dayexception",
    "bookings.add_dayexception",
    "bookings.delete_dayexception",
    "bookings.view_calendarday",
    "bookings.change_calendarday",
)
DESK_PERMS = (
    "bookings.view_booking",
    "bookings.book_on_behalf",
    "bookings.cancel_any_booking",
    "bookings.reschedule_any_booking",
    "bookings.approve_booking",
    "bookings.assign_booking",
    "bookings.record_booking_outcome",
)


def put(api, path, data):
    return api.request("PUT", path, data)


def patch(api, path, data):
    return api.request("PATCH", path, data)


def api_for(user):
    return ApiClient(token_issue(user=user))


@pytest.fixture
def desk(db):
    return grant(make_staff("desk1", ROLE_AGENT), *DESK_PERMS)


@pytest.fixture
def desk_api(desk):
    return api_for(desk)


def test_staff_endpoints_need_the_django_permission(clock, resident_api, finance, repair):
    # finance has no booking permissions in its role
    finance_api = api_for(finance)
    new_service = {
        "code": "valve",
        "name": "报停关阀",
        "kind": "visit",
        "duration_minutes": 30,
    }
    answers = [
        resident_api.get("staff/bookings/services"),
        finance_api.get("staff/bookings/services"),
        finance_api.post("staff/bookings/services", new_service),
        resident_api.get(f"staff/bookings/schedule?date={TUESDAY}"),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.content
        assert answer.json()["code"] == "forbidden"
    assert not Service.objects.filter(code="valve").exists()
    # with the permission the same call works
    allowed = api_for(grant(finance, "bookings.view_service")).get("staff/bookings/services")
    assert allowed.status_code == 200
    assert [s["code"] for s in allowed.json()] == ["repair"]


def test_an_administrator_configures_a_counter_service_end_to_end(clock, admin_user, resident_api):
    admin_api = api_for(grant(admin_user, *CONFIG_PERMS))
    # a window of 4 places, a counter service using it
    window = admin_api.post(
        "staff/bookings/resources",
        {"code": "hall-1", "name": "1号窗口", "kind": "window", "capacity_per_slot": 4},
    )
    assert window.status_code == 201, window.content
    service = admin_api.post(
        "staff/bookings/services",
        {
            "code": "stop-apply",
            "name": "报停办理",
            "kind": "counter",
            "duration_minutes": 20,
            "slot_interval_minutes": 30,
            "capacity_per_slot": 3,
            "requires_house": False,
            "max_active_per_house": None,
            "resources": ["hall-1"],
        },
    )
    assert service.status_code == 201, service.content
    # Tuesdays 09:00–10:00 only
    plan = put(
        admin_api,
        "staff/bookings/resources/hall-1/plan",
        {"periods": [{"weekday": 1, "starts": "09:00", "ends": "10:00"}]},
    )
    assert plan.status_code == 200, plan.content

    def offered(day):
        body = resident_api.get(
            f"bookings/availability?service=stop-apply&date_from={day}&date_to={day}"
        ).json()
        return [(s["starts_at"][11:16], s["remaining"]) for s in body["slots"]]

    assert offered(TUESDAY) == [("09:00", 3), ("09:30", 3)]
    # a holiday closes it; replacing the year's calendar opens it again
    holidays = put(
        admin_api,
        "staff/bookings/holidays/2026",
        {"days": [{"date": TUESDAY, "kind": "holiday", "name": "测试"}]},
    )
    assert holidays.status_code == 200, holidays.content
    assert offered(TUESDAY) == []
    wrong_year = put(
        admin_api,
        "staff/bookings/holidays/2026",
        {"days": [{"date": "2027-01-01", "kind": "holiday"}]},
    )
    assert wrong_year.status_code == 422
    assert CalendarDay.objects.filter(date=TUESDAY).exists()
    # a year no calendar is kept for is refused, reading or writing, and nothing changes
    for year in (0, 1999, 2101, 10**12):
        read = admin_api.get(f"staff/bookings/holidays/{year}")
        assert (read.status_code, list(read.json()["fields"])) == (422, ["year"]), year
        written = put(admin_api, f"staff/bookings/holidays/{year}", {"days": []})
        assert (written.status_code, list(written.json()["fields"])) == (422, ["year"]), year
    assert CalendarDay.objects.filter(date=TUESDAY).exists()
    put(admin_api, "staff/bookings/holidays/2026", {"days": []})
    # an exception gives other hours on a Wednesday
    added = admin_api.post(
        "staff/bookings/resources/hall-1/exceptions",
        {"date": WEDNESDAY, "is_closed": False, "starts": "14:00", "ends": "14:30"},
    )
    assert added.status_code == 201, added.content
    assert offered(WEDNESDAY) == [("14:00", 3)]
    removed = admin_api.delete(f"staff/bookings/exceptions/{added.json()['id']}")
    assert removed.status_code == 204
    assert offered(WEDNESDAY) == []
    # lowering the window's places lowers the slot capacity
    patch(admin_api, "staff/bookings/resources/hall-1", {"capacity_per_slot": 2})
    assert offered(TUESDAY) == [("09:00", 2), ("09:30", 2)]
    assert not DayException.objects.exists()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "bookings.resource.create",
        "bookings.service.create",
        "bookings.plan.set",
        "bookings.holidays.set",
        "bookings.exception.add",
        "bookings.exception.remove",
        "bookings.resource.change",
    } <= actions


def test_configuration_mistakes_are_refused(clock, admin_user):
    admin_api = api_for(grant(admin_user, *CONFIG_PERMS))
    admin_api.post("staff/bookings/resources", {"code": "hall-2", "name": "2号", "kind": "window"})
    visit_without_house = admin_api.post(
        "staff/bookings/services",
        {
            "code": "valve",
            "name": "关阀",
            "kind": "visit",
            "duration_minutes": 30,
            "requires_house": False,
        },
    )
    wrong_kind = admin_api.post(
        "staff/bookings/services",
        {
            "code": "valve",
            "name": "关阀",
            "kind": "visit",
            "duration_minutes": 30,
            "resources": ["hall-2"],
        },
    )
    overlapping = put(
        admin_api,
        "staff/bookings/resources/hall-2/plan",
        {
            "periods": [
                {"weekday": 0, "starts": "09:00", "ends": "11:00"},
                {"weekday": 0, "starts": "10:00", "ends": "12:00"},
            ]
        },
    )
    team_of_two = admin_api.post(
        "staff/bookings/resources",
        {"code": "team-x", "name": "X", "kind": "team", "capacity_per_slot": 2},
    )
    for answer in (visit_without_house, wrong_kind, overlapping, team_of_two):
        assert answer.status_code == 422, answer.content
    assert not Service.objects.exists()
    assert list(Resource.objects.values_list("code", flat=True)) == ["hall-2"]
    assert not Resource.objects.get().working_hours.exists()


def test_book_on_behalf_of_a_caller_reaches_their_app(
    clock, desk_api, resident, resident_api, home, repair
):
    payload = {
        "service": "repair",
        "starts_at": f"{TUESDAY}T14:00:00+08:00",
        "house_account_no": home.account_no,
        "contact_name": "王秀英",
        "contact_phone": "138 1234 5678",
        "note": "电话报修：卧室暖气不热",
    }
    made = desk_api.post("staff/bookings", payload, headers={"Idempotency-Key": "call-1"})
    again = desk_api.post("staff/bookings", payload, headers={"Idempotency-Key": "call-1"})
    assert made.status_code == 201, made.content
    assert again.status_code == 200
    body = made.json()
    assert body["contact_phone_masked"] == "138****5678"
    assert body["contact_name_masked"] == "王**"
    assert body["created_by"] == "desk1"
    booking = Booking.objects.get()
    assert booking.resident == resident
    assert booking.created_by.username == "desk1"
    assert OutboundSms.objects.get().phone == "13812345678"
    assert [b["id"] for b in resident_api.get("bookings").json()] == [body["id"]]
    assert AuditEntry.objects.get(action="booking.create_on_behalf").actor.username == "desk1"


def test_the_days_schedule_per_resource(clock, desk_api, resident, home, repair, counter):
    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
        contact_phone=resident.phone,
    )
    cancelled, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "09:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    services.booking_cancel(booking=cancelled, actor=resident)
    answer = desk_api.get(f"staff/bookings/schedule?date={TUESDAY}")
    assert answer.status_code == 200, answer.content
    rows = {r["resource"]: r for r in answer.json()["resources"]}
    assert set(rows) == {"team-east", "window-1"}
    team = rows["team-east"]
    assert team["periods"][0] == {
        "starts_at": "2026-12-01T08:30:00+08:00",
        "ends_at": "2026-12-01T12:00:00+08:00",
    }
    assert [(b["starts_at"], b["status"]) for b in team["bookings"]] == [
        ("2026-12-01T14:00:00+08:00", "confirmed")
    ]
    assert team["bookings"][0]["address"] == home.address
    assert rows["window-1"]["bookings"] == []


def test_assignment_and_outcomes_over_the_api(clock, desk_api, resident, home, repair, team):
    tech = make_staff("tech9", ROLE_TECHNICIAN)
    outsider = make_staff("tech10", ROLE_TECHNICIAN)
    team.members.add(tech)
    booking, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    url = f"staff/bookings/{booking.public_id}"
    not_member = desk_api.post(f"{url}/assign", {"technician": outsider.username})
    assert not_member.status_code == 422
    assigned = desk_api.post(f"{url}/assign", {"technician": "tech9"})
    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["technician"] == "tech9"
    early = desk_api.post(f"{url}/complete", {"notes": "更换阀门"})
    assert early.status_code == 409
    assert early.json()["code"] == "booking_not_started"
    clock.move_to(at(TUESDAY, "15:10"))
    done = desk_api.post(f"{url}/complete", {"notes": "更换阀门"})
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "completed"
    assert done.json()["outcome_notes"] == "更换阀门"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.COMPLETED
    assert booking.technician == tech


def test_staff_cancel_needs_a_reason_and_staff_reschedule_ignores_the_deadline(
    clock, desk_api, resident, home, repair
):
    booking, _ = services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    clock.move_to(at(TUESDAY, "12:00"))  # past the resident's 4-hour deadlines
    url = f"staff/bookings/{booking.public_id}"
    moved = desk_api.post(
        f"{url}/reschedule", {"starts_at": f"{WEDNESDAY}T09:00:00+08:00", "reason": "来电改约"}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["starts_at"] == "2026-12-02T09:00:00+08:00"
    no_reason = desk_api.post(f"{url}/cancel", {"reason": ""})
    assert no_reason.status_code == 422
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    cancelled = desk_api.post(f"{url}/cancel", {"reason": "用户来电取消"})
    assert cancelled.status_code == 200
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert (
        AuditEntry.objects.filter(action__in=["booking.reschedule", "booking.cancel"]).count() == 2
    )


def test_the_schedule_answers_in_a_fixed_number_of_queries(
    clock, desk_api, resident, home, repair, counter, django_assert_max_num_queries
):
    def schedule_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert desk_api.get(f"staff/bookings/schedule?date={TUESDAY}").status_code == 200
        return len(captured)

    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "09:00"),
        created_by=resident,
        resident=resident,
        house=home,
    )
    one = schedule_queries()
    for hhmm in ("14:00",):
        services.booking_create(
            service=repair,
            starts_at=at(TUESDAY, hhmm),
            created_by=resident,
            resident=resident,
            house=home,
        )
    for hhmm in ("10:00", "11:00"):
        services.booking_create(
            service=counter, starts_at=at(TUESDAY, hhmm), created_by=resident, resident=resident
        )
    assert schedule_queries() == one
    with django_assert_max_num_queries(12):
        desk_api.get(f"staff/bookings/schedule?date={TUESDAY}")
