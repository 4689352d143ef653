"""滞纳金减免 through the staff API and the back office: request, list, approve, reject, with
each refusal in the one error format and nothing changed."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from heatdesk.accounts.models import User
from heatdesk.accounts.roles import ROLE_FINANCE
from heatdesk.accounts.services import token_issue
from heatdesk.billing import services
from heatdesk.billing.models import Bill, LateFeeWaiver
from heatdesk.billing.tests.factories import account_state, lines_of
from heatdesk.core.clock import SHANGHAI
from heatdesk.testing import ApiClient, make_staff

pytestmark = pytest.mark.django_db

BILL = 223750  # late fee 8,950 fen on 20 January


def on(y: int, m: int, d: int):
    return time_machine.travel(dt.datetime(y, m, d, 10, tzinfo=SHANGHAI), tick=False)


def api_for(user: User) -> ApiClient:
    return ApiClient(token_issue(user=User.objects.get(pk=user.pk)))


@pytest.fixture
def bill(season, tariff, house_a, finance):
    return services.bill_issue(house=house_a, season=season, issued_by=finance)


@pytest.fixture
def approver(db):
    return make_staff("finance2", ROLE_FINANCE)


def test_an_agent_asks_and_finance_approves_through_the_api(bill, house_a, agent, approver):
    with on(2027, 1, 20):  # tokens are issued on the day: they expire
        asker, decider = api_for(agent), api_for(approver)
        made = asker.post(
            f"billing/bills/{bill.public_id}/late-fee-waivers",
            {"amount_fen": 3000, "reason": "独居老人"},
        )
        assert made.status_code == 201, made.json()
        body = made.json()
        assert (body["bill_id"], body["amount_fen"], body["status"], body["line"]) == (
            bill.public_id,
            3000,
            "pending",
            None,
        )
        listed = decider.get("billing/late-fee-waivers").json()
        assert [w["id"] for w in listed] == [body["id"]]
        approved = decider.post(f"billing/late-fee-waivers/{body['id']}/approve")
    assert approved.status_code == 200, approved.json()
    out = approved.json()
    assert (out["status"], out["decided_by"], out["line"]["kind"], out["line"]["amount_fen"]) == (
        "approved",
        approver.pk,
        "late_fee_waiver",
        -3000,
    )
    assert Bill.objects.get(pk=bill.pk).total_fen == BILL - 3000
    assert lines_of(bill)[-1] == ("late_fee_waiver", -3000)
    assert decider.get("billing/late-fee-waivers").json() == []
    assert [w["id"] for w in decider.get("billing/late-fee-waivers?status=approved").json()] == [
        body["id"]
    ]


def test_refusals_answer_in_the_error_format_and_change_nothing(bill, house_a, agent, finance):
    with on(2027, 1, 20):
        asker = api_for(agent)
        before = account_state(house_a)
        too_much = asker.post(
            f"billing/bills/{bill.public_id}/late-fee-waivers",
            {"amount_fen": 8951, "reason": "减免"},
        )
        assert too_much.status_code == 409
        assert too_much.json()["code"] == "waiver_exceeds_late_fee"
        assert too_much.json()["fields"] == {"amount_fen": ["最多可减免 8950 分。"]}
        missing = asker.post(
            "billing/bills/bl_nope/late-fee-waivers", {"amount_fen": 1, "reason": "减免"}
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "bill_not_found")
        bad = asker.post(
            f"billing/bills/{bill.public_id}/late-fee-waivers", {"amount_fen": 0, "reason": "x"}
        )
        assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
        made = api_for(finance).post(
            f"billing/bills/{bill.public_id}/late-fee-waivers",
            {"amount_fen": 100, "reason": "减免"},
        )
        waiver_id = made.json()["id"]
        # the agent may ask but not decide; finance may not decide its own request
        forbidden = asker.post(f"billing/late-fee-waivers/{waiver_id}/approve")
        assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
        own = api_for(finance).post(f"billing/late-fee-waivers/{waiver_id}/approve")
        assert (own.status_code, own.json()["code"]) == (409, "waiver_same_person")
        unknown = api_for(finance).post("billing/late-fee-waivers/lw_nope/reject", {"note": "x"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "waiver_not_found")
        listing = api_for(finance).get("billing/late-fee-waivers?status=nonsense")
        assert listing.status_code == 422
    assert account_state(house_a) == before
    assert list(LateFeeWaiver.objects.values_list("status", flat=True)) == ["pending"]


def test_a_rejection_through_the_api(bill, house_a, agent, approver):
    with on(2027, 1, 20):
        made = api_for(agent).post(
            f"billing/bills/{bill.public_id}/late-fee-waivers",
            {"amount_fen": 100, "reason": "减免"},
        )
        before = account_state(house_a)
        rejected = api_for(approver).post(
            f"billing/late-fee-waivers/{made.json()['id']}/reject", {"note": "证明材料不全"}
        )
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == (
        "rejected",
        "证明材料不全",
    )
    assert account_state(house_a) == before


def test_the_back_office_asks_from_the_bill_list_and_decides_from_the_waiver_list(
    bill, house_a, agent, approver
):
    with on(2027, 1, 20):  # sessions start on the day: they expire
        asker, decider = Client(), Client()
        asker.force_login(agent)
        decider.force_login(approver)
        asker.post(
            "/admin/billing/bill/",
            {
                "action": "request_waiver_selected",
                "_selected_action": [bill.pk],
                "amount_yuan": "",
                "reason": "低保户",
            },
        )
        waiver = LateFeeWaiver.objects.get()
        assert (waiver.amount_fen, waiver.reason, waiver.requested_by_id) == (
            8950,
            "低保户",
            agent.pk,
        )
        # the agent has no approve action; the approver's goes through the service
        asker.post(
            "/admin/billing/latefeewaiver/",
            {"action": "approve_selected", "_selected_action": [waiver.pk]},
        )
        assert LateFeeWaiver.objects.get().status == "pending"
        page = decider.get("/admin/billing/latefeewaiver/")
        assert page.status_code == 200
        assert "批准所选减免申请" in page.content.decode()
        decider.post(
            "/admin/billing/latefeewaiver/",
            {"action": "approve_selected", "_selected_action": [waiver.pk]},
        )
    waiver.refresh_from_db()
    assert (waiver.status, waiver.decided_by_id) == ("approved", approver.pk)
    assert Bill.objects.get(pk=bill.pk).total_fen == BILL - 8950
