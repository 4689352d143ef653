"""The resident payments API against the simulators: create with an Idempotency-Key, poll
(which confirms with the provider), close, payment records; and what a resident may not do."""

import datetime as dt

import pytest

from heatdesk.accounts.models import WechatIdentity
from heatdesk.billing.tests.factories import account_state
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    openid_for,
    payments_of,
    wait_until,
)
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sim")]
URL = "payments/orders"


def _create(api, body, key="key-1"):
    return api.post(URL, body, headers={"Idempotency-Key": key})


def test_create_returns_the_order_with_pay_parameters_and_a_replay_returns_it_again(
    resident_api, bills
):
    body = {"channel": "wechat_native", "bill_ids": [bills[0].public_id]}
    first = _create(resident_api, body)
    assert first.status_code == 201, first.json()
    data = first.json()
    assert (data["status"], data["amount_fen"], data["channel"]) == (
        "pending",
        BILL_FEN,
        "wechat_native",
    )
    assert data["pay"]["code_url"].startswith("weixin://")
    assert data["items"] == [
        {
            "house_id": bills[0].house.public_id,
            "account_no": "HT10000001",
            "bill_id": bills[0].public_id,
            "season": "2026-2027",
            "amount_fen": BILL_FEN,
            "late_fee_fen": 0,
        }
    ]
    again = _create(resident_api, body)
    assert again.status_code == 200
    assert again.json()["id"] == data["id"]
    assert again.json()["pay"]["code_url"] == data["pay"]["code_url"]
    assert PaymentOrder.objects.count() == 1
    assert SandboxPaymentOrder.objects.count() == 1


def test_a_key_reused_for_another_request_is_refused_and_creates_nothing(
    resident_api, bills, house_a
):
    assert (
        _create(
            resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]}
        ).status_code
        == 201
    )
    answer = _create(
        resident_api, {"channel": "alipay_precreate", "bill_ids": [bills[0].public_id]}
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "idempotency_key_reused")
    assert PaymentOrder.objects.count() == 1


def test_a_double_tap_with_two_keys_gets_one_open_order(resident_api, bills):
    body = {"channel": "wechat_native", "bill_ids": [bills[0].public_id]}
    first = _create(resident_api, body, key="tap-1").json()
    second = _create(resident_api, body, key="tap-2")
    assert second.status_code == 200
    assert second.json()["id"] == first["id"]
    assert PaymentOrder.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"channel": "wechat_native", "bill_ids": ["BILL"]}, {}, 400, "idempotency_key_required"),
        ({"channel": "bitcoin", "bill_ids": ["BILL"]}, None, 422, "validation_error"),
        ({"channel": "cash", "bill_ids": ["BILL"]}, None, 422, "validation_error"),
        ({"channel": "wechat_native"}, None, 422, "validation_error"),
        (
            {"channel": "wechat_native", "bill_ids": ["BILL"], "house_id": "HOUSE"},
            None,
            422,
            "validation_error",
        ),
        ({"channel": "wechat_native", "bill_ids": ["OTHER"]}, None, 404, "bill_not_found"),
        ({"channel": "wechat_native", "bill_ids": ["bl_NOSUCHBILL"]}, None, 404, "bill_not_found"),
        ({"channel": "wechat_native", "house_id": "OTHER_HOUSE"}, None, 404, "house_not_found"),
        ({"channel": "wechat_jsapi", "bill_ids": ["BILL"]}, None, 422, "validation_error"),
        ({"channel": "wechat_native", "bill_ids": ["BILL", "BILL"]}, None, 422, "validation_error"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_change_nothing(
    resident_api, bills, house_a, house_b, body, headers, status, code
):
    mine, other = bills
    swap = {"BILL": mine.public_id, "OTHER": other.public_id, "HOUSE": house_a.public_id}
    swap["OTHER_HOUSE"] = house_b.public_id
    body = {
        k: ([swap.get(v, v) for v in value] if isinstance(value, list) else swap.get(value, value))
        for k, value in body.items()
    }
    before = account_state(house_a), account_state(house_b)
    answer = resident_api.post(
        URL, body, headers={"Idempotency-Key": "bad-1"} if headers is None else headers
    )
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.json()
    assert set(answer.json()) == {"code", "message", "fields"}
    assert (account_state(house_a), account_state(house_b)) == before
    assert not PaymentOrder.objects.exists()
    assert not SandboxPaymentOrder.objects.exists()


def test_a_paid_bill_cannot_be_paid_again(resident_api, bills, house_a):
    order = _create(resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]})
    cashier_pay(PaymentOrder.objects.get(public_id=order.json()["id"]))
    wait_until(lambda: bill_status(bills[0])[0] == "paid")
    answer = _create(
        resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]}, key="k2"
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "bill_not_payable")
    assert PaymentOrder.objects.count() == 1


def test_a_resident_cannot_see_or_close_a_neighbours_order(resident_api, neighbour_api, bills):
    order = _create(resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]})
    order_id = order.json()["id"]
    for answer in (
        neighbour_api.get(f"{URL}/{order_id}"),
        neighbour_api.post(f"{URL}/{order_id}/close"),
    ):
        assert (answer.status_code, answer.json()["code"]) == (404, "payment_order_not_found")
    assert PaymentOrder.objects.get(public_id=order_id).status == "pending"
    assert neighbour_api.get("payments/records").json()["count"] == 0


def test_polling_confirms_a_payment_whose_notify_was_lost(resident_api, bills, house_a, frozen_day):
    created = _create(resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]})
    order = PaymentOrder.objects.get(public_id=created.json()["id"])
    knobs_set(out_trade_no=order.out_trade_no, notify_drop=True)
    cashier_pay(order)
    # right away the poll does not ask the provider yet
    assert resident_api.get(f"{URL}/{order.public_id}").json()["status"] == "pending"
    frozen_day.shift(dt.timedelta(seconds=5))
    answer = resident_api.get(f"{URL}/{order.public_id}")
    assert answer.json()["status"] == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]


def test_closing_an_unpaid_order_closes_it_at_the_provider_and_is_re_entrant(
    resident_api, bills, house_a
):
    created = _create(resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]})
    order_id = created.json()["id"]
    for _ in range(2):
        answer = resident_api.post(f"{URL}/{order_id}/close")
        assert (answer.status_code, answer.json()["status"]) == (200, "closed")
    assert SandboxPaymentOrder.objects.get().state == "closed"
    assert bill_status(bills[0]) == ("issued", 0)


def test_closing_an_order_paid_meanwhile_ends_paid(resident_api, bills, house_a):
    created = _create(resident_api, {"channel": "wechat_native", "bill_ids": [bills[0].public_id]})
    order = PaymentOrder.objects.get(public_id=created.json()["id"])
    knobs_set(out_trade_no=order.out_trade_no, notify_drop=True)
    cashier_pay(order)
    answer = resident_api.post(f"{URL}/{order.public_id}/close")
    assert answer.json()["status"] == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)


def test_records_list_the_houses_payments_newest_first_in_pages(
    resident_api, bills, django_assert_max_num_queries
):
    for n, channel in enumerate(["wechat_native", "alipay_precreate", "alipay_wap"]):
        body = {"channel": channel, "bill_ids": [bills[0].public_id]}
        assert _create(resident_api, body, key=f"rec-{n}").status_code == 201
    with django_assert_max_num_queries(12):
        first = resident_api.get("payments/records?page=1&page_size=2").json()
    second = resident_api.get("payments/records?page=2&page_size=2").json()
    assert first["count"] == 3
    channels = [r["channel"] for r in first["results"] + second["results"]]
    assert channels == ["alipay_wap", "alipay_precreate", "wechat_native"]
    assert first["results"][0]["items"][0]["bill_id"] == bills[0].public_id
    bad = resident_api.get("payments/records?page_size=500")
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    assert list(bad.json()["fields"]) == ["page_size"]
    # a page far past any history is refused, not handed to the database as a huge offset
    far = resident_api.get(f"payments/records?page={10**30}")
    assert (far.status_code, list(far.json()["fields"])) == (422, ["page"])


def test_a_mini_program_payer_gets_signed_request_payment_parameters_for_their_openid(
    resident_api, resident, bills, settings
):
    openid = openid_for(settings, "mini")
    WechatIdentity.objects.create(appid=settings.WECHATPAY_APPID, openid=openid, user=resident)
    answer = _create(resident_api, {"channel": "wechat_jsapi", "bill_ids": [bills[0].public_id]})
    assert answer.status_code == 201, answer.json()
    params = answer.json()["pay"]["request_payment"]
    assert params["package"].startswith("prepay_id=")
    assert params["appId"] == settings.WECHATPAY_APPID
    order = PaymentOrder.objects.get(public_id=answer.json()["id"])
    assert order.payer_openid == openid
    assert SandboxPaymentOrder.objects.get().payer_id == openid
