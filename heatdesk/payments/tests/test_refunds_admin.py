"""The refund back office: read-only, with approve / reject through the services."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from heatdesk.billing import services as billing
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.payments.models import Provider, Refund
from heatdesk.payments.services import refunds
from heatdesk.payments.services.counter_shifts import shift_open
from heatdesk.payments.tests.support_refunds import money_state, paid_order

pytestmark = pytest.mark.django_db
URL = reverse("admin:payments_refund_changelist")


@pytest.fixture
def order(house_a, collector):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    bill = billing.bill_issue(house=house_a, season=season, issued_by=collector)
    return paid_order(provider=Provider.COUNTER, bill=bill, collector=collector)


def _act(user, action, refund):
    client = Client()
    client.force_login(user)
    return client.post(URL, {"action": action, "_selected_action": [refund.pk]}, follow=True)


def test_finance_approves_and_a_collector_pays_out_a_counter_refund_in_the_admin(
    order, house_a, collector, agent, finance
):
    # (requested by an agent: who asks for a refund does not also hand the money over)
    refund = refunds.refund_request(order=order, amount_fen=1000, reason="多缴", by=agent)
    before = money_state(house_a)
    answer = _act(finance, "approve_selected", refund)
    assert answer.status_code == 200
    assert Refund.objects.get(pk=refund.pk).status == "processing"
    assert money_state(house_a) == before
    listing = Client()
    listing.force_login(finance)
    assert "待柜台付款" in listing.get(URL).content.decode()
    # without an open shift the payout is refused and nothing changes
    refused = _act(collector, "payout_selected", refund)
    assert "请先开班" in refused.content.decode()
    assert Refund.objects.get(pk=refund.pk).status == "processing"
    shift = shift_open(collector=collector, opening_float_fen=0)
    _act(collector, "payout_selected", refund)
    row = Refund.objects.get(pk=refund.pk)
    assert (row.status, row.paid_out_shift_id) == ("succeeded", shift.pk)
    assert money_state(house_a)["refunds"] == [(refund.out_refund_no, 1000)]


def test_the_requester_cannot_approve_in_the_admin_either(order, house_a, finance):
    refund = refunds.refund_request(order=order, amount_fen=1000, reason="多缴", by=finance)
    before = money_state(house_a)
    answer = _act(finance, "approve_selected", refund)
    assert "申请人不能审批" in answer.content.decode()
    assert Refund.objects.get(pk=refund.pk).status == "requested"
    assert money_state(house_a) == before


def test_reject_and_read_only(order, collector, finance):
    refund = refunds.refund_request(order=order, amount_fen=1000, reason="多缴", by=collector)
    _act(finance, "reject_selected", refund)
    row = Refund.objects.get(pk=refund.pk)
    assert (row.status, row.decided_by_id) == ("rejected", finance.pk)
    client = Client()
    client.force_login(finance)
    assert client.get(reverse("admin:payments_refund_add")).status_code == 403
    # a collector without the approval permission cannot use the action
    _act(
        collector,
        "approve_selected",
        refunds.refund_request(order=order, amount_fen=1, reason="多缴", by=finance),
    )
    assert Refund.objects.filter(status="requested").count() == 1
