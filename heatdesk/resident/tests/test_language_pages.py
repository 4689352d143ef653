"""The bills, 报停/复供 and booking pages read in English once English is chosen: nothing
Chinese is left but the data that is Chinese by nature (addresses, service names, the bill
lines' explanations)."""

import datetime as dt
from decimal import Decimal

import time_machine
from django.conf import settings
from django.test import Client

from heatdesk.billing import services as billing
from heatdesk.billing.models import BillLine
from heatdesk.billing.selectors import bill_due_as_of
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.bookings import services as bookings
from heatdesk.bookings.links import link_token
from heatdesk.bookings.tests.factories import at, community_of, make_team, make_visit_service
from heatdesk.core.clock import SHANGHAI
from heatdesk.resident.tests.test_language import _house_data, _leftover_chinese

LATE = dt.datetime(2027, 1, 10, 12, tzinfo=SHANGHAI)
BOOKING_DAY = dt.datetime(2026, 11, 30, 8, tzinfo=SHANGHAI)


def _english(user) -> Client:
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _assert_english(pages: dict, data: list[str]) -> None:
    for name, response in pages.items():
        assert response.status_code in (200, 404), name
        html = response.content.decode()
        assert '<html lang="en">' in html, name
        assert _leftover_chinese(html, *data) == [], name


def test_bill_and_heating_pages_read_in_english(resident, bound_house_a, finance):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    bill = billing.bill_issue(house=bound_house_a, season=season, issued_by=finance)
    house = f"/m/houses/{bound_house_a.public_id}/"
    with time_machine.travel(LATE, tick=False):
        client = _english(resident)
        pages = {
            "home": client.get("/m/"),
            "house": client.get(house),
            "bills": client.get(f"{house}bills/"),
            "bill": client.get(f"{house}bills/{bill.public_id}/"),
            "heating": client.get(f"{house}heating/"),
            "heating-empty": client.post(f"{house}heating/", {}),
            "heating-late": client.post(
                f"{house}heating/", {"kind": "stop", "season": "2026-2027"}
            ),
        }
    explanations = list(BillLine.objects.filter(bill=bill).values_list("explanation", flat=True))
    due = bill_due_as_of(bill=bill, as_of=LATE.date())
    assert due.late_fee is not None
    data = [*_house_data(bound_house_a), *explanations, due.late_fee.explanation]
    _assert_english(pages, data)
    assert "Heating season 2026-2027" in pages["bills"].content.decode()
    assert "Late fee" in pages["bill"].content.decode()
    assert "Choose stop or resume." in pages["heating-empty"].content.decode()


def test_booking_pages_read_in_english(resident, bound_house_a):
    team = make_team(community_of(bound_house_a), code="team-east", name="East team")
    make_visit_service(team, code="repair", name="上门维修")
    with time_machine.travel(BOOKING_DAY, tick=False):
        from heatdesk.bookings.models import Service

        booking, _ = bookings.booking_create(
            service=Service.objects.get(code="repair"),
            starts_at=at("2026-12-01", "14:00"),
            created_by=resident,
            resident=resident,
            house=bound_house_a,
            contact_phone=resident.phone,
        )
        client = _english(resident)
        token = link_token(booking)
        anonymous = Client()
        anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        pages = {
            "list": client.get("/m/bookings/"),
            "services": client.get("/m/bookings/new/"),
            "slots": client.get("/m/bookings/new/repair/"),
            "confirm": client.get(
                f"/m/bookings/new/repair/confirm/?house={bound_house_a.public_id}"
                "&at=2026-12-02T09:00"
            ),
            "confirm-taken": client.post(
                "/m/bookings/new/repair/confirm/",
                {"starts_at": "2026-12-01T14:00", "key": "k1", "house": bound_house_a.public_id},
            ),
            "detail": client.get(f"/m/bookings/{booking.public_id}/"),
            "reschedule": client.get(f"/m/bookings/{booking.public_id}/reschedule/"),
            "same-time": client.post(
                f"/m/bookings/{booking.public_id}/reschedule/", {"starts_at": "2026-12-01T14:00"}
            ),
            "link": anonymous.get(f"/m/b/{token}/"),
            "bad-link": anonymous.get("/m/b/nope/"),
        }
    _assert_english(pages, [*_house_data(bound_house_a), "上门维修"])
    assert "The new time is the same as the current one." in pages["same-time"].content.decode()
