"""The resident API: bills of bound houses with the late fee as of today, the account and its
ledger, stop/resume applications; another house's billing is a 404 that leaks nothing."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.billing import services
from heatdesk.billing.models import HeatingChange
from heatdesk.billing.services import ledger
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.models import HouseBinding
from heatdesk.testing import ApiClient, make_house, make_resident

pytestmark = pytest.mark.django_db

BILL = 223750
TEN_DAYS_LATE = dt.datetime(2027, 1, 10, 12, tzinfo=SHANGHAI)
BEFORE_DEADLINE = dt.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI)


@pytest.fixture
def bound(resident, neighbour, house_a, house_b):
    HouseBinding.objects.create(user=resident, house=house_a, relation="owner")
    HouseBinding.objects.create(user=neighbour, house=house_b, relation="owner")


@pytest.fixture
def bills(season, tariff, house_a, house_b, finance, bound):
    return (
        services.bill_issue(house=house_a, season=season, issued_by=finance),
        services.bill_issue(house=house_b, season=season, issued_by=finance),
    )


def signed_in(user) -> ApiClient:
    """A client whose token was issued at the (travelled) current time."""
    from heatdesk.accounts.services import token_issue

    return ApiClient(token_issue(user=user))


def test_a_resident_lists_the_bills_of_bound_houses_with_the_late_fee_as_of_today(
    bills, resident, house_a
):
    mine, _ = bills
    with time_machine.travel(TEN_DAYS_LATE, tick=False):
        answer = signed_in(resident).get("bills")
    assert answer.status_code == 200
    assert answer.json() == [
        {
            "id": mine.public_id,
            "house_id": house_a.public_id,
            "account_no": "HT10000001",
            "season": "2026-2027",
            "status": "issued",
            "status_label": "待缴费",
            "total_fen": BILL,
            "paid_fen": 0,
            "outstanding_fen": BILL,
            "as_of": "2027-01-10",
            "late_fee_fen": 4475,
            "late_fee_fixed": False,
            "heat_cut_off_on": None,
            "early_discount_fen": 0,
            "due_today_fen": BILL + 4475,
            "payment_due_date": "2026-12-31",
            "issued_at": mine.issued_at.isoformat(),
        }
    ]


def test_the_bill_detail_shows_every_line_and_the_late_fee_not_yet_on_it(bills, resident, house_a):
    mine, _ = bills
    with time_machine.travel(TEN_DAYS_LATE, tick=False):
        answer = signed_in(resident).get(f"houses/{house_a.public_id}/bills/{mine.public_id}")
    assert answer.status_code == 200
    body = answer.json()
    assert [(x["kind"], x["amount_fen"], x["explanation"]) for x in body["lines"]] == [
        ("area_fee", BILL, "建筑面积 89.50㎡ × 25.00元/㎡")
    ]
    assert body["derived"] == [
        {
            "kind": "late_fee",
            "kind_label": "滞纳金",
            "explanation": "滞纳金：未缴本金 2,237.50元 × 2‰/天 × 10天（2027-01-01至2027-01-10）",
            "amount_fen": 4475,
        }
    ]


def test_another_houses_billing_is_not_found_and_says_nothing_about_it(
    bills, resident_api, neighbour_api, house_a, house_b
):
    mine, theirs = bills
    nowhere = "hs_0000000000000000"
    cases = [
        (neighbour_api, f"houses/{house_a.public_id}/bills/{mine.public_id}"),
        (neighbour_api, f"houses/{house_a.public_id}/account"),
        (neighbour_api, f"houses/{house_a.public_id}/ledger"),
        (neighbour_api, f"houses/{house_a.public_id}/heating-changes"),
        (neighbour_api, f"bills?house_id={house_a.public_id}"),
        (neighbour_api, f"houses/{nowhere}/account"),
    ]
    bodies = []
    for client, path in cases:
        answer = client.get(path)
        assert answer.status_code == 404, path
        bodies.append(answer.json())
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["code"] == "house_not_found"
    # a bill of another house under one's own house is just as absent
    answer = resident_api.get(f"houses/{house_a.public_id}/bills/{theirs.public_id}")
    assert (answer.status_code, answer.json()["code"]) == (404, "bill_not_found")
    assert theirs.public_id not in answer.content.decode()
    # and the neighbour's own list holds only their bill
    assert [b["id"] for b in neighbour_api.get("bills").json()] == [theirs.public_id]


def test_an_unbound_house_stops_showing_at_once(bills, resident, resident_api, house_a):
    HouseBinding.objects.filter(user=resident).update(ended_at=dt.datetime.now(tz=SHANGHAI))
    assert resident_api.get("bills").json() == []
    assert resident_api.get(f"houses/{house_a.public_id}/account").status_code == 404


def test_the_account_shows_arrears_and_the_ledger_sums_to_what_is_owed(
    season, tariff, house_a, finance, bound, resident_api
):
    from decimal import Decimal as D

    from heatdesk.billing.tests.factories import dates_of, make_season, make_tariff

    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=D("24.00"))
    old = services.bill_issue(house=house_a, season=older, issued_by=finance)
    new = services.bill_issue(house=house_a, season=season, issued_by=finance)
    ledger.ledger_post_payment(house=house_a, amount_fen=100000, source="wx", source_id="P1")
    # when
    with time_machine.travel(dt.datetime(2026, 11, 20, tzinfo=SHANGHAI), tick=False):
        account = resident_api.get(f"houses/{house_a.public_id}/account").json()
        entries = resident_api.get(f"houses/{house_a.public_id}/ledger").json()
    # then
    owed = 214800 + BILL - 100000
    assert (account["owed_fen"], account["credit_fen"], account["due_fen"]) == (owed, 0, owed)
    assert account["arrears_fen"] == 114800
    assert [(b["season"], b["bill_id"], b["due_fen"], b["arrears"]) for b in account["bills"]] == [
        ("2025-2026", old.public_id, 114800, True),
        ("2026-2027", new.public_id, BILL, False),
    ]
    assert [(e["kind"], e["amount_fen"], e["balance_fen"]) for e in entries] == [
        ("charge", 214800, 214800),
        ("charge", BILL, 214800 + BILL),
        ("payment", -100000, owed),
    ]
    assert entries[-1]["balance_fen"] == account["owed_fen"]


def test_applying_to_stop_heating_and_following_the_application(
    season, tariff, house_a, bound, resident_api
):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        answer = resident_api.post(
            f"houses/{house_a.public_id}/heating-changes",
            {"season": "2026-2027", "kind": "stop", "note": "外出务工"},
        )
    assert answer.status_code == 201
    body = answer.json()
    assert (body["kind"], body["status"], body["status_label"], body["requested_from"]) == (
        "stop",
        "pending",
        "待审核",
        "2026-11-15",
    )
    listed = resident_api.get(f"houses/{house_a.public_id}/heating-changes").json()
    assert [c["id"] for c in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("payload", "when", "status", "code"),
    [
        ({"season": "2026-2027", "kind": "stop"}, "late", 409, "apply_deadline_passed"),
        ({"season": "2026-2027", "kind": "pause"}, "early", 422, "validation_error"),
        ({"season": "1999-2000", "kind": "stop"}, "early", 404, "season_not_found"),
        (
            {"season": "2026-2027", "kind": "stop", "requested_from": "2027-04-01"},
            "early",
            422,
            "validation_error",
        ),
        ({"season": "2026-2027", "kind": "resume"}, "early", 409, "heating_status_mismatch"),
    ],
)
def test_refused_applications_change_nothing(
    season, tariff, house_a, bound, resident_api, payload, when, status, code
):
    moment = BEFORE_DEADLINE if when == "early" else dt.datetime(2026, 10, 20, tzinfo=SHANGHAI)
    with time_machine.travel(moment, tick=False):
        answer = resident_api.post(f"houses/{house_a.public_id}/heating-changes", payload)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert not HeatingChange.objects.exists()


def test_applying_for_another_residents_house_is_not_found(
    season, tariff, house_a, bound, neighbour_api
):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        answer = neighbour_api.post(
            f"houses/{house_a.public_id}/heating-changes", {"season": "2026-2027", "kind": "stop"}
        )
    assert (answer.status_code, answer.json()["code"]) == (404, "house_not_found")
    assert not HeatingChange.objects.exists()


def test_no_token_is_401_and_no_consent_is_403(bills, anon_api, house_a):
    assert anon_api.get("bills").status_code == 401
    from heatdesk.accounts.services import token_issue

    newcomer = make_resident("13700001111", consented=False)
    HouseBinding.objects.create(user=newcomer, house=house_a, relation="family")
    answer = ApiClient(token_issue(user=newcomer)).get("bills")
    assert (answer.status_code, answer.json()["code"]) == (403, "privacy_consent_required")


def test_the_bill_list_takes_the_same_queries_for_one_bill_or_many(
    season, tariff, resident, resident_api, house_a, finance, bound
):
    services.bill_issue(house=house_a, season=season, issued_by=finance)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert resident_api.get("bills").status_code == 200
        return len(queries)

    one = count()
    for n in range(3):
        house = make_house()
        HouseBinding.objects.create(user=resident, house=house, relation="owner")
        bill = services.bill_issue(house=house, season=season, issued_by=finance)
        ledger.ledger_post_payment(house=house, amount_fen=1000 + n, source="wx", source_id=f"Q{n}")
        services.bill_adjust(bill=bill, amount_fen=500, reason="补差", by=finance)
    assert count() == one
