"""The counter API end to end: find a house, open a shift, take a payment with an
Idempotency-Key, print the receipt, void it as a supervisor, close the shift; residents and
agents are kept out."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import pytest

from heatdesk.accounts.services import token_issue
from heatdesk.payments.models import CounterShift, PaymentOrder
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    bill_state,
    ledger_rows,
    on_nov_20,
)
from heatdesk.testing import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(collector):
    return ApiClient(token_issue(user=collector))


@pytest.fixture
def supervisor(finance):
    return ApiClient(token_issue(user=finance))


def pay(api, body, key="click-1"):
    return api.post("payments/counter/payments", body, headers={"Idempotency-Key": key})


def test_the_counter_journey(desk, supervisor, house_a, bill):
    # find the house by 户号, by the owner's phone and by address
    for q in ("HT10000001", "139 1111 2222", house_a.address[2:8]):
        found = desk.get(f"payments/counter/houses?q={q}")
        assert found.status_code == 200, q
        hit = next(h for h in found.json() if h["account_no"] == "HT10000001")
        assert hit["due_fen"] == BILL
        assert hit["owner_phone_masked"] == "139****2222"
        assert [b["bill_id"] for b in hit["bills"]] == [bill.public_id]
    # no shift yet: refused
    refused = pay(desk, {"house_id": house_a.public_id, "channel": "cash"})
    assert (refused.status_code, refused.json()["code"]) == (409, "no_open_shift")
    assert not PaymentOrder.objects.exists()
    # open a shift
    opened = desk.post("payments/counter/shifts", {"opening_float_fen": 20000})
    assert opened.status_code == 201
    shift_id = opened.json()["shift_id"]
    assert desk.get("payments/counter/shifts/current").json()["expected"]["cash"] == 20000
    # take the payment; a double click answers with the same payment
    body = {"house_id": house_a.public_id, "bill_ids": [bill.public_id], "channel": "cash"}
    first = pay(desk, body)
    again = pay(desk, body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    payment = first.json()
    assert (payment["status"], payment["amount_fen"]) == ("paid", BILL)
    assert PaymentOrder.objects.count() == 1
    assert bill_state(bill) == ("paid", BILL, BILL)
    # the current shift shows it
    current = desk.get("payments/counter/shifts/current").json()
    assert (current["expected"]["cash"], current["payments"]) == (20000 + BILL, 1)
    # the receipt
    pdf = desk.get(payment["receipt_url"])
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    # the collector cannot void it; the supervisor can
    own = desk.post(f"payments/counter/payments/{payment['payment_id']}/void", {"reason": "x"})
    assert own.status_code == 403
    voided = supervisor.post(
        f"payments/counter/payments/{payment['payment_id']}/void", {"reason": "收错户"}
    )
    assert voided.status_code == 200
    assert (voided.json()["status"], voided.json()["void_reason"]) == ("voided", "收错户")
    assert bill_state(bill) == ("issued", BILL, 0)
    # close the shift: a difference without a note is refused, then explained
    path = f"payments/counter/shifts/{shift_id}/close"
    short = desk.post(path, {"counted": {"cash": 19000}})
    assert (short.status_code, short.json()["code"]) == (422, "validation_error")
    assert "note" in short.json()["fields"]
    closed = desk.post(path, {"counted": {"cash": 19000}, "note": "少找10元"})
    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["difference_fen"]) == ("closed", -1000)
    assert CounterShift.objects.get().status == "closed"
    # and nothing more is taken
    late = pay(desk, body, key="click-2")
    assert (late.status_code, late.json()["code"]) == (409, "no_open_shift")
    gone = desk.get("payments/counter/shifts/current")
    assert (gone.status_code, gone.json()["code"]) == (404, "no_open_shift")


def test_pos_needs_a_reference_over_the_api(desk, house_a, bill):
    desk.post("payments/counter/shifts", {})
    refused = pay(desk, {"house_id": house_a.public_id, "channel": "pos"})
    assert refused.status_code == 422
    assert "reference" in refused.json()["fields"]
    assert not PaymentOrder.objects.exists()
    taken = pay(desk, {"house_id": house_a.public_id, "channel": "pos", "reference": "R-1"})
    assert taken.status_code == 201
    assert taken.json()["reference"] == "R-1"


def test_unknown_house_or_bill_and_missing_key(desk, house_a, house_b, bill):
    desk.post("payments/counter/shifts", {})
    nowhere = pay(desk, {"house_id": "hs_NOPE", "channel": "cash"})
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "house_not_found")
    foreign = pay(
        desk, {"house_id": house_b.public_id, "bill_ids": [bill.public_id], "channel": "cash"}
    )
    assert (foreign.status_code, foreign.json()["code"]) == (404, "bill_not_found")
    keyless = desk.post(
        "payments/counter/payments", {"house_id": house_a.public_id, "channel": "cash"}
    )
    assert (keyless.status_code, keyless.json()["code"]) == (400, "idempotency_key_required")
    assert not PaymentOrder.objects.exists()
    assert ledger_rows(house_a) == [("charge", BILL, "")]


def test_residents_and_agents_cannot_use_the_counter(resident_api, agent, collector, house_a, bill):
    from heatdesk.payments.services.counter import counter_payment_record
    from heatdesk.payments.services.counter_shifts import shift_open

    shift_open(collector=collector)
    order = counter_payment_record(
        collector=collector, house=house_a, bills=[bill], channel="cash", idempotency_key="k"
    )
    agent_api = ApiClient(token_issue(user=agent))
    calls = [
        ("get", "payments/counter/houses?q=HT10000001", None),
        ("post", "payments/counter/shifts", {}),
        ("get", "payments/counter/shifts/current", None),
        ("post", "payments/counter/payments", {"house_id": house_a.public_id, "channel": "cash"}),
        ("post", f"payments/counter/payments/{order.public_id}/void", {"reason": "x"}),
        ("get", f"payments/counter/payments/{order.public_id}/receipt.pdf", None),
    ]
    for api, allowed_reads in ((resident_api, False), (agent_api, True)):
        for method, path, body in calls:
            if method == "get":
                answer = api.get(path)
            else:
                answer = api.post(path, body, headers={"Idempotency-Key": "z"})
            # Agents may read payments (view_paymentorder) and so reprint a receipt; nothing else.
            if allowed_reads and path.endswith("receipt.pdf"):
                assert answer.status_code == 200, path
                continue
            assert answer.status_code == 403, (path, answer.status_code)
            assert answer.json()["code"] == "forbidden"
    assert PaymentOrder.objects.get().status == "paid"
    assert CounterShift.objects.count() == 1
    anon = ApiClient().get("payments/counter/houses?q=HT10000001")
    assert anon.status_code == 401
