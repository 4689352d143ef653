"""The counter back office: shifts with their payments, reprint a receipt, void as a supervisor
and close a shift through forms that call the services."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import pytest
from django.test import Client

from heatdesk.payments import admin_counter  # noqa: F401 - registers the shift admin
from heatdesk.payments.models import CounterShift, PaymentAlert, PaymentOrder
from heatdesk.payments.services.counter import counter_payment_record
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    bill_state,
    on_nov_20,
    shift,
)

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def order(collector, house_a, bill, shift):
    return counter_payment_record(
        collector=collector, house=house_a, bills=[bill], channel="cash", idempotency_key="k1"
    )


def test_shift_pages_receipt_void_and_close(collector, finance, order, shift, bill):
    desk, boss = browser(collector), browser(finance)
    base = "/admin/payments/countershift/"
    assert desk.get(base).status_code == 200
    page = desk.get(f"{base}{shift.pk}/change/")
    assert page.status_code == 200
    assert order.receipt_no in page.content.decode()
    # reprint
    pdf = desk.get(f"{base}payment/{order.pk}/receipt.pdf")
    assert (pdf.status_code, pdf.content[:5]) == (200, b"%PDF-")
    # the collector may not void; the supervisor voids with a reason
    assert desk.post(f"{base}payment/{order.pk}/void/", {"reason": "x"}).status_code == 403
    assert PaymentOrder.objects.get().status == "paid"
    no_reason = boss.post(f"{base}payment/{order.pk}/void/", {"reason": ""})
    assert no_reason.status_code == 200
    assert PaymentOrder.objects.get().status == "paid"
    done = boss.post(f"{base}payment/{order.pk}/void/", {"reason": "收错户"})
    assert done.status_code == 302
    assert PaymentOrder.objects.get().status == "voided"
    assert bill_state(bill) == ("issued", BILL, 0)
    # close: a difference without a note stays open, with a note it closes and alerts
    form = {"cash": 40000, "pos": 0, "transfer": 0, "note": ""}
    assert desk.post(f"{base}{shift.pk}/close/", form).status_code == 200
    assert CounterShift.objects.get().status == "open"
    closed = desk.post(f"{base}{shift.pk}/close/", {**form, "note": "备用金少100元"})
    assert closed.status_code == 302
    row = CounterShift.objects.get()
    assert (row.status, row.difference_fen) == ("closed", -10000)
    assert PaymentAlert.objects.filter(kind="shift_difference").count() == 1


def test_the_close_action_leads_to_the_form(collector, shift):
    desk = browser(collector)
    answer = desk.post(
        "/admin/payments/countershift/",
        {"action": "close_shift_action", "_selected_action": [shift.pk]},
    )
    assert answer.status_code == 302
    assert answer["Location"].endswith(f"/admin/payments/countershift/{shift.pk}/close/")
    assert CounterShift.objects.get().status == "open"


def test_another_collector_cannot_close_or_reprint_elsewhere(shift, order):
    from heatdesk.accounts.roles import ROLE_AGENT, ROLE_COLLECTOR
    from heatdesk.testing import make_staff

    other = browser(make_staff("collector2", ROLE_COLLECTOR))
    answer = other.post(
        f"/admin/payments/countershift/{shift.pk}/close/",
        {"cash": 50000 + BILL, "pos": 0, "transfer": 0},
    )
    assert answer.status_code == 403
    assert CounterShift.objects.get().status == "open"
    agent = browser(make_staff("agent2", ROLE_AGENT))
    assert agent.get("/admin/payments/countershift/").status_code == 403
