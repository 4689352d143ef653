"""Bills pages: a house's bills per season and one bill with every line, the late fee as of
today, arrears from earlier seasons, what is paid and what is left; nobody else's by URL."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from heatdesk.billing import services
from heatdesk.billing.services import ledger
from heatdesk.billing.tests.factories import dates_of, make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.services import house_bind

BILL = 223750  # 89.50 ㎡ × 25.00 元/㎡
TEN_DAYS_LATE = dt.datetime(2027, 1, 10, 12, tzinfo=SHANGHAI)


@pytest.fixture
def season(db):
    return make_season()


@pytest.fixture
def bill(season, bound_house_a, finance):
    make_tariff(season, area_price=Decimal("25.00"))
    return services.bill_issue(house=bound_house_a, season=season, issued_by=finance)


@pytest.fixture
def older_bill(bound_house_a, finance):
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=Decimal("24.00"))
    return services.bill_issue(house=bound_house_a, season=older, issued_by=finance)


def _signed_in(user):
    """A client signed in at the (travelled) current time, so the session is fresh then."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _bills_url(house) -> str:
    return f"/m/houses/{house.public_id}/bills/"


def test_the_bill_list_shows_each_season_with_what_is_due_today(
    resident, bound_house_a, bill, older_bill
):
    with time_machine.travel(TEN_DAYS_LATE, tick=False):
        response = _signed_in(resident).get(_bills_url(bound_house_a))
    html = response.content.decode()
    assert response.status_code == 200
    assert "2026-2027 采暖季" in html
    assert "2025-2026 采暖季" in html
    assert html.index("2026-2027") < html.index("2025-2026")  # newest season first
    assert "截至 2027-01-10 应缴" in html
    # 2,237.50 + 44.75 late fee, and last season's 2,148.00 (no late fee that season)
    assert "¥4,430.25" in html
    assert "其中往年欠费" in html
    assert "¥2,148.00" in html
    assert f'href="/m/houses/{bound_house_a.public_id}/bills/{bill.public_id}/"' in html


def test_the_bill_shows_every_line_the_late_fee_as_of_today_and_the_arrears(
    resident, bound_house_a, bill, older_bill
):
    with time_machine.travel(TEN_DAYS_LATE, tick=False):
        response = _signed_in(resident).get(f"{_bills_url(bound_house_a)}{bill.public_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "面积热费" in html
    assert "建筑面积 89.50㎡ × 25.00元/㎡" in html
    assert "按今天（2027-01-10）缴费时另计" in html
    assert "滞纳金" in html
    assert "¥44.75" in html
    assert 'data-testid="bill-total">¥2,237.50<' in html
    assert 'data-testid="bill-paid">¥0.00<' in html
    assert 'data-testid="bill-outstanding">¥2,237.50<' in html
    assert 'data-testid="bill-arrears">¥2,148.00<' in html
    assert 'data-testid="bill-due">¥2,282.25<' in html


def test_a_partly_paid_bill_shows_what_is_paid_and_what_is_left(
    resident_client, bound_house_a, bill
):
    ledger.ledger_post_payment(
        house=bound_house_a, amount_fen=100000, source="wx", source_id="PAGE1"
    )
    with time_machine.travel(dt.datetime(2026, 11, 20, tzinfo=SHANGHAI), tick=False):
        html = resident_client.get(f"{_bills_url(bound_house_a)}{bill.public_id}/").content.decode()
    assert "部分缴费" in html
    assert 'data-testid="bill-paid">¥1,000.00<' in html
    assert 'data-testid="bill-outstanding">¥1,237.50<' in html
    assert 'data-testid="bill-arrears">¥0.00<' in html


def test_a_house_without_bills_says_so(resident_client, bound_house_a):
    html = resident_client.get(_bills_url(bound_house_a)).content.decode()
    assert "暂无账单" in html
    assert "¥0.00" in html


def test_another_residents_bills_are_not_found(
    neighbour_client, neighbour, bound_house_a, bill, house_b
):
    house_bind(user=neighbour, account_no=house_b.account_no, relation="owner", owner_name="李强")
    for url in (
        _bills_url(bound_house_a),
        f"{_bills_url(bound_house_a)}{bill.public_id}/",
        # a real bill, asked for under the neighbour's own house
        f"{_bills_url(house_b)}{bill.public_id}/",
    ):
        response = neighbour_client.get(url)
        assert response.status_code == 404, url
        assert "未找到该页面或房屋" in response.content.decode()
        assert "89.50" not in response.content.decode()


def test_bills_need_a_signed_in_resident(client, bound_house_a, bill):
    response = client.get(_bills_url(bound_house_a))
    assert response.status_code == 302
    assert response["Location"].startswith("/m/login/?next=")


def test_the_house_page_links_to_bills_and_heating(resident_client, bound_house_a):
    html = resident_client.get(f"/m/houses/{bound_house_a.public_id}/").content.decode()
    assert f'href="{_bills_url(bound_house_a)}"' in html
    assert f'href="/m/houses/{bound_house_a.public_id}/heating/"' in html


def test_home_shows_what_each_house_owes_today(resident, bound_house_a, bill):
    with time_machine.travel(TEN_DAYS_LATE, tick=False):
        html = _signed_in(resident).get("/m/").content.decode()
    assert 'data-testid="house-owed">¥2,282.25<' in html
