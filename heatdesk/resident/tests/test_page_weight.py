"""The home page stays light and fast: its HTML, CSS and JS together stay under 150 KB, come
from our own static files, and its queries do not grow with the number of houses."""

import re

from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.estates.services import house_bind
from heatdesk.testing import make_house

BUDGET_BYTES = 150 * 1024
ASSET_RE = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')


def _bind_houses(resident, count: int) -> None:
    for n in range(count):
        make_house(account_no=f"HT4000{n:04d}", owner_name="王秀英")
        house_bind(
            user=resident, account_no=f"HT4000{n:04d}", relation="owner", owner_name="王秀英"
        )


def test_the_home_page_with_its_assets_weighs_under_150_kb(resident_client, resident):
    _bind_houses(resident, 10)
    response = resident_client.get("/m/")
    html = response.content
    assets = ASSET_RE.findall(html.decode())
    local = [url for url in assets if url.startswith("/static/")]
    others = [url for url in assets if not url.startswith(("/static/", "data:"))]

    sizes = {}
    for url in local:
        path = finders.find(url.removeprefix("/static/"))
        assert path, f"{url} is not one of our static files"
        with open(path, "rb") as handle:
            sizes[url] = len(handle.read())
    total = len(html) + sum(sizes.values())

    assert response.status_code == 200
    assert others == [], "pages load nothing from other hosts"
    assert {"/static/resident/resident.css", "/static/resident/resident.js"} <= set(sizes)
    assert total <= BUDGET_BYTES, f"{total} bytes: {sizes}, html {len(html)}"


def test_home_queries_do_not_grow_with_the_number_of_houses(resident_client, resident):
    _bind_houses(resident, 1)
    with CaptureQueriesContext(connection) as one:
        resident_client.get("/m/")
    _bind_houses_more = [make_house(account_no=f"HT5000{n:04d}") for n in range(3)]
    for house in _bind_houses_more:
        house_bind(user=resident, account_no=house.account_no, relation="family", owner_name="张伟")
    with CaptureQueriesContext(connection) as four:
        response = resident_client.get("/m/")
    assert response.content.decode().count('class="cell cell--link"') == 4
    assert len(four) == len(one)


def _weight(html: bytes) -> int:
    assets = [url for url in ASSET_RE.findall(html.decode()) if url.startswith("/static/")]
    total = len(html)
    for url in assets:
        path = finders.find(url.removeprefix("/static/"))
        assert path, url
        with open(path, "rb") as handle:
            total += len(handle.read())
    return total


def test_bill_heating_booking_and_pay_pages_stay_light(
    resident_client, resident, bound_house_a, finance
):
    from decimal import Decimal

    from heatdesk.billing.services import bill_issue
    from heatdesk.billing.tests.factories import make_season, make_tariff
    from heatdesk.bookings.tests.factories import community_of, make_team, make_visit_service

    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    bill = bill_issue(house=bound_house_a, season=season, issued_by=finance)
    team = make_team(community_of(bound_house_a), code="team-w", name="维修班")
    make_visit_service(team, code="repair-w", name="上门维修")
    house = f"/m/houses/{bound_house_a.public_id}/"
    urls = [
        f"{house}bills/",
        f"{house}bills/{bill.public_id}/",
        f"{house}bills/{bill.public_id}/pay/",
        f"{house}heating/",
        "/m/bookings/",
        "/m/bookings/new/",
        "/m/bookings/new/repair-w/",
        "/m/pay/records/",
    ]
    for url in urls:
        response = resident_client.get(url)
        assert response.status_code == 200, url
        assert _weight(response.content) <= BUDGET_BYTES, url
