import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.bookings import api_common, selectors, services
from heatdesk.bookings.availability_json import availability_json
from heatdesk.bookings.models import Booking, CalendarDay, DayException
from heatdesk.bookings.tests.conftest import NOW, TUESDAY, WEDNESDAY
from heatdesk.bookings.tests.factories import (
    at,
    community_of,
    make_team,
    make_visit_service,
    plain_users,
)
from heatdesk.core.clock import SHANGHAI

# Queries one availability answer takes, whatever the month holds (over HTTP: plus the
# token, the house and the service).
QUERY_CEILING = 5

pytestmark = pytest.mark.django_db


def starts(service, house, first: str, last: str | None = None) -> list[str]:
    offers = selectors.availability(
        service=service,
        community_id=community_of(house).pk if house else None,
        date_from=dt.date.fromisoformat(first),
        date_to=dt.date.fromisoformat(last or first),
    )
    return [o.starts_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") for o in offers]


def test_past_slots_and_slots_inside_the_minimum_notice_never_show(clock, repair, house_a):
    # given Monday 08:00 and two hours' minimum notice: 09:00 and 09:30 are too close
    # then
    assert starts(repair, house_a, "2026-11-30") == [
        "11-30 10:00",
        "11-30 10:30",
        "11-30 14:00",
        "11-30 14:30",
        "11-30 15:00",
        "11-30 15:30",
        "11-30 16:00",
    ]
    # when the afternoon has begun, the morning is past and 16:00 is inside the notice
    clock.move_to(NOW.replace(hour=14, minute=1))
    assert starts(repair, house_a, "2026-11-30") == []
    # and yesterday never shows
    assert starts(repair, house_a, "2026-11-29") == []


def test_the_day_plan_gives_the_grid_with_breaks_and_travel_buffers(clock, repair, house_a):
    # 08:30–12:00 and 13:30–17:30, a 60-minute visit with 30 minutes' travel each side
    assert starts(repair, house_a, TUESDAY) == [
        f"12-01 {t}"
        for t in ("09:00", "09:30", "10:00", "10:30", "14:00", "14:30", "15:00", "15:30", "16:00")
    ]
    # no plan at weekends
    assert starts(repair, house_a, "2026-12-05", "2026-12-06") == []


def test_slots_beyond_the_maximum_days_ahead_never_show(clock, repair, house_a):
    found = starts(repair, house_a, "2026-12-10", "2026-12-31")
    # 14 days ahead of Monday 30 November is Monday 14 December
    assert found[-1] == "12-14 16:00"
    assert not [s for s in found if s > "12-14 23:59"]


def test_holidays_close_every_resource_and_make_up_days_work(clock, repair, house_a):
    CalendarDay.objects.create(date=dt.date(2026, 12, 1), kind="holiday", name="测试假日")
    CalendarDay.objects.create(
        date=dt.date(2026, 12, 6), kind="workday", name="调休上班", works_as_weekday=0
    )
    assert starts(repair, house_a, TUESDAY) == []
    sunday = starts(repair, house_a, "2026-12-06")
    assert sunday[0] == "12-06 09:00"
    assert len(sunday) == 9


def test_day_exceptions_close_a_day_or_change_its_hours(clock, repair, team, house_a):
    DayException.objects.create(resource=team, date=dt.date(2026, 12, 2), is_closed=True)
    DayException.objects.create(
        resource=team,
        date=dt.date(2026, 12, 3),
        is_closed=False,
        starts=dt.time(19, 0),
        ends=dt.time(21, 0),
    )
    assert starts(repair, house_a, WEDNESDAY) == []
    assert starts(repair, house_a, "2026-12-03") == ["12-03 19:30"]
    # an exception wins over a holiday: the team works the holiday's evening
    CalendarDay.objects.create(date=dt.date(2026, 12, 3), kind="holiday")
    assert starts(repair, house_a, "2026-12-03") == ["12-03 19:30"]


def test_a_visit_blocks_its_travel_buffers_too(clock, repair, house_a, resident):
    # given a visit at 14:00, blocking 13:30–15:30 with travel
    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=house_a,
    )
    # then 14:30, 15:00 and 15:30 overlap the travel; 16:00 (15:30–17:30) still fits
    afternoon = [s for s in starts(repair, house_a, TUESDAY) if s >= "12-01 13:00"]
    assert afternoon == ["12-01 16:00"]


def test_full_window_slots_never_show_and_remaining_places_count_down(clock, counter):
    users = plain_users(3)
    for user in users[:2]:
        services.booking_create(
            service=counter, starts_at=at(TUESDAY, "10:00"), created_by=user, resident=user
        )
    services.booking_create(
        service=counter, starts_at=at(TUESDAY, "11:00"), created_by=users[2], resident=users[2]
    )
    offers = {
        o.starts_at.astimezone(SHANGHAI).strftime("%H:%M"): o.remaining
        for o in selectors.availability(
            service=counter,
            community_id=None,
            date_from=dt.date(2026, 12, 1),
            date_to=dt.date(2026, 12, 1),
        )
    }
    assert "10:00" not in offers
    assert offers["10:30"] == 2
    assert offers["11:00"] == 1


def test_teams_only_serve_their_communities(clock, repair, house_b):
    assert starts(repair, house_b, TUESDAY) == []


def test_a_hold_that_ran_out_stops_blocking_at_once(clock, repair, house_a, resident):
    services.booking_create(
        service=repair,
        starts_at=at(TUESDAY, "14:00"),
        created_by=resident,
        resident=resident,
        house=house_a,
        hold=True,
    )
    assert "12-01 14:00" not in starts(repair, house_a, TUESDAY)
    clock.shift(dt.timedelta(minutes=repair.hold_minutes, seconds=1))
    # still "held" in the table until the job runs, but it no longer blocks
    assert Booking.objects.get().status == Booking.Status.HELD
    assert "12-01 14:00" in starts(repair, house_a, TUESDAY)


def test_availability_api_for_a_bound_house(clock, resident_api, home, repair, house_b):
    answer = resident_api.get(
        f"bookings/availability?service=repair&house_id={home.public_id}"
        "&date_from=2026-12-01&date_to=2026-12-01"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["slots"][0] == {
        "starts_at": "2026-12-01T09:00:00+08:00",
        "ends_at": "2026-12-01T10:00:00+08:00",
        "remaining": 1,
    }
    assert len(body["slots"]) == 9
    # a house that is not the caller's is not found; a visit needs a house
    other = resident_api.get(f"bookings/availability?service=repair&house_id={house_b.public_id}")
    assert other.status_code == 404
    assert other.json()["code"] == "house_not_found"
    missing = resident_api.get("bookings/availability?service=repair")
    assert missing.status_code == 422
    assert "house_id" in missing.json()["fields"]


def test_a_month_for_twenty_teams_takes_a_fixed_handful_of_queries(clock, home, resident_api):
    # given 20 teams serving one community, a month bookable, and 200 bookings in the month
    house_a = home
    community = community_of(house_a)
    teams = [make_team(community) for _ in range(20)]
    service = make_visit_service(
        *teams, code="repair-month", max_days_ahead=31, max_active_per_house=None
    )
    user = plain_users(1)[0]
    day = dt.date(2026, 12, 1)
    made = 0
    while made < 200:
        if day.weekday() < 5:
            for team in teams[:10]:
                for hhmm in ("09:00", "14:00"):
                    services.booking_create(
                        service=service,
                        starts_at=at(day.isoformat(), hhmm),
                        created_by=user,
                        resident=user,
                        house=house_a,
                        resource_id=team.pk,
                    )
                    made += 1
        day += dt.timedelta(days=1)
    # when
    offers = selectors.availability(
        service=service,
        community_id=community.pk,
        date_from=dt.date(2026, 11, 30),
        date_to=dt.date(2026, 12, 30),
    )
    url = (
        f"bookings/availability?service=repair-month&house_id={house_a.public_id}"
        "&date_from=2026-11-30&date_to=2026-12-30"
    )
    # The cost of a month does not grow with its slots, teams or bookings: a fixed handful of
    # queries (the time is measured by the `availability` benchmark in bench/, not here).
    with CaptureQueriesContext(connection) as direct:
        selectors.availability(
            service=service,
            community_id=community.pk,
            date_from=dt.date(2026, 11, 30),
            date_to=dt.date(2026, 12, 30),
        )
    with CaptureQueriesContext(connection) as over_http:
        answer = resident_api.get(url)
    assert answer.status_code == 200
    assert len(answer.json()["slots"]) == len(offers)
    # then every weekday slot shows, with the booked teams taken out
    assert Booking.objects.filter(service=service).count() == 200
    assert offers[0].remaining == 20
    booked_slot = next(o for o in offers if o.starts_at == at("2026-12-01", "09:00"))
    assert booked_slot.remaining == 10
    assert len(direct) <= QUERY_CEILING, [q["sql"] for q in direct.captured_queries]
    assert len(over_http) <= QUERY_CEILING + 3, [q["sql"] for q in over_http.captured_queries]


def _pydantic_json(answer: dict) -> bytes:
    """The availability answer as ninja would write it: through AvailabilityOut and its encoder."""
    from ninja.responses import NinjaJSONEncoder

    from heatdesk.bookings.schemas import AvailabilityOut

    dumped = AvailabilityOut.model_validate(answer).model_dump()
    return json.dumps(dumped, cls=NinjaJSONEncoder).encode()


def test_the_answer_is_the_json_ninja_would_write(clock, resident_api, home, repair, counter):
    # given a week with some places taken on the window, so "remaining" varies
    user = plain_users(1)[0]
    for hhmm in ("09:00", "10:30"):
        services.booking_create(
            service=counter,
            starts_at=at(TUESDAY, hhmm),
            created_by=user,
            resident=user,
        )
    for code, house in (("counter", None), ("repair", home)):
        query = f"service={code}&date_from=2026-11-30&date_to=2026-12-06"
        if house is not None:
            query += f"&house_id={house.public_id}"
        # when
        response = resident_api.get(f"bookings/availability?{query}")
        # then the bytes are those of the pydantic schema, with its content type
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        expected = api_common.availability_answer(
            service_code=code,
            house=house,
            date_from=dt.date(2026, 11, 30),
            date_to=dt.date(2026, 12, 6),
        )
        assert len(expected["slots"]) > 20
        assert response.content == _pydantic_json(expected)
    assert {s["remaining"] for s in response.json()["slots"]} == {1}
    counter_slots = resident_api.get(
        f"bookings/availability?service=counter&date_from={TUESDAY}&date_to={TUESDAY}"
    ).json()["slots"]
    assert {s["remaining"] for s in counter_slots} == {1, 2}


def test_the_answer_json_matches_the_schema_for_any_value():
    # times in other offsets and with microseconds, a code that needs escaping, no slots
    utc = dt.datetime(2026, 12, 1, 1, 0, 0, 123456, tzinfo=dt.UTC)
    local = dt.datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI)
    answers = [
        {
            "service": '营业厅"counter"\\',
            "date_from": dt.date(2026, 12, 1),
            "date_to": dt.date(2026, 12, 31),
            "slots": [
                {"starts_at": utc, "ends_at": local, "remaining": 3},
                {"starts_at": local, "ends_at": local + dt.timedelta(minutes=30), "remaining": 1},
            ],
        },
        {
            "service": "x",
            "date_from": dt.date(2026, 1, 1),
            "date_to": dt.date(2026, 1, 1),
            "slots": [],
        },
    ]
    for answer in answers:
        assert availability_json(answer).encode() == _pydantic_json(answer)


def test_the_schema_still_documents_the_answer():
    from heatdesk.config.api import api

    operation = api.get_openapi_schema()["paths"]["/api/v1/bookings/availability"]["get"]
    ok = operation["responses"][200]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AvailabilityOut"}
