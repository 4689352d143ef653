"""The staff refund API: permissions, request → approve by another person, errors in the one
format, list and filter with a pinned query count."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.accounts.services import token_issue
from heatdesk.billing import services as billing
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.payments.models import Provider, Refund
from heatdesk.payments.tests.support_refunds import (  # noqa: F401 - fixtures
    money_state,
    paid_order,
    sim,
)
from heatdesk.sandbox.payment_models import SandboxPaymentRefund
from heatdesk.testing import ApiClient

pytestmark = pytest.mark.usefixtures("sim")
URL = "/api/v1/payments/refunds"


def api(user):
    return ApiClient(token_issue(user=user))


@pytest.fixture
def order(house_a, finance):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    bill = billing.bill_issue(house=house_a, season=season, issued_by=finance)
    return paid_order(provider=Provider.ALIPAY, bill=bill)


def test_request_then_approve_by_finance(order, house_a, agent, finance):
    # when an agent requests
    answer = api(agent).post(
        URL, {"out_trade_no": order.out_trade_no, "amount_fen": 5000, "reason": "多缴退费"}
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["status"], body["amount_fen"], body["requested_by"]) == (
        "requested",
        5000,
        agent.username,
    )
    # the agent may not approve; finance may
    denied = api(agent).post(f"{URL}/{body['public_id']}/approve")
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    assert Refund.objects.get().status == "requested"
    approved = api(finance).post(f"{URL}/{body['public_id']}/approve")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "succeeded"
    assert money_state(house_a)["refunds"] == [(body["out_refund_no"], 5000)]


def test_the_requester_cannot_approve(order, finance):
    created = api(finance).post(
        URL, {"out_trade_no": order.out_trade_no, "amount_fen": 5000, "reason": "多缴退费"}
    )
    answer = api(finance).post(f"{URL}/{created.json()['public_id']}/approve")
    assert answer.status_code == 409
    assert answer.json()["code"] == "refund_same_person"
    assert Refund.objects.get().status == "requested"
    assert not SandboxPaymentRefund.objects.exists()


def test_bad_requests_get_clear_errors_and_change_nothing(order, agent, resident_api, house_a):
    before = money_state(house_a)
    too_much = api(agent).post(
        URL,
        {"out_trade_no": order.out_trade_no, "amount_fen": order.amount_fen + 1, "reason": "x"},
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_exceeds_paid")
    unknown = api(agent).post(URL, {"out_trade_no": "NOPE", "amount_fen": 1, "reason": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "payment_order_not_found")
    no_reason = api(agent).post(
        URL, {"out_trade_no": order.out_trade_no, "amount_fen": 1, "reason": " "}
    )
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "validation_error")
    resident = resident_api.post(
        URL, {"out_trade_no": order.out_trade_no, "amount_fen": 1, "reason": "x"}
    )
    assert resident.status_code == 403
    missing = api(agent).post(f"{URL}/rf_nope/approve")
    assert missing.status_code in (403, 404)
    assert not Refund.objects.exists()
    assert money_state(house_a) == before


def test_reject_list_filter_and_sync(order, agent, finance, django_assert_max_num_queries):
    for amount in (100, 200, 300):
        api(agent).post(
            URL, {"out_trade_no": order.out_trade_no, "amount_fen": amount, "reason": "退费"}
        )
    first = Refund.objects.get(amount_fen=100)
    rejected = api(finance).post(f"{URL}/{first.public_id}/reject", {"note": "无需退款"})
    assert rejected.json()["status"] == "rejected"
    assert Refund.objects.get(pk=first.pk).decision_note == "无需退款"
    # list, filtered, with a fixed number of queries whatever the number of rows
    with CaptureQueriesContext(connection) as queries:
        listed = api(finance).get(f"{URL}?status=requested")
    assert sorted(r["amount_fen"] for r in listed.json()) == [200, 300]
    count = len(queries)
    api(agent).post(URL, {"out_trade_no": order.out_trade_no, "amount_fen": 5, "reason": "退费"})
    with django_assert_max_num_queries(count):
        assert len(api(finance).get(f"{URL}?status=requested").json()) == 3
    synced = api(finance).post(f"{URL}/{first.public_id}/sync")
    assert synced.json()["status"] == "rejected"
