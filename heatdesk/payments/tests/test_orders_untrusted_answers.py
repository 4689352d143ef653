"""Answers we cannot trust and requests the provider refuses, at the level of our orders
(payments.md §4.5 #6, #7): a WeChat Pay answer re-signed by a stranger, with a stale timestamp
or under a serial we do not know is an unknown outcome (UNKNOWN on create, no change on query),
never success; a request the simulator refuses with 401 SIGN_ERROR fails the attempt once,
with its reason, and is not sent again.

A proxy sits between our client and the simulator: the simulator really answers (and really
creates or pays the order); only the answer's Wechatpay-* headers are changed on the way."""

from typing import Any

import pytest

from heatdesk.core.errors import ApplicationError
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.providers import wechatpay_protocol
from heatdesk.payments.providers.config import wechatpay_config
from heatdesk.payments.services.orders import order_create, order_prepare
from heatdesk.payments.services.sync import order_sync
from heatdesk.payments.tests.notify_support import stale_timestamp
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    payments_of,
    sim_order,
)
from heatdesk.payments.tests.proxy_support import (  # noqa: F401 - fixture
    Answer,
    Proxy,
    proxy_fixture,
)
from heatdesk.sandbox.payment_config import wechatpay_sim
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder

pytestmark = [pytest.mark.django_db(transaction=True)]
PREFIX = "/sandbox/wechatpay"


@pytest.fixture
def through_proxy(sim: Any, payment_settings: Any, proxy: Proxy) -> Proxy:
    """Our WeChat Pay client talks to the simulator through the proxy."""
    proxy.target = sim.url
    payment_settings.WECHATPAY_BASE_URL = f"{proxy.url}{PREFIX}"
    return proxy


def _resigned(*, key: Any = None, serial: str = "", timestamp: str | None = None) -> Any:
    """A rewrite that signs the real answer's body again with changed Wechatpay-* headers."""

    def rewrite(answer: Answer) -> Answer:
        sim = wechatpay_sim()
        headers = {
            k: v for k, v in answer.headers.items() if not k.lower().startswith("wechatpay-")
        }
        headers |= wechatpay_protocol.sign_response(
            body=answer.body,
            private_key=key or sim.platform_key,
            serial=serial or sim.public_key_id,
            timestamp=timestamp,
        )
        return Answer(answer.status, headers, answer.body)

    return rewrite


UNTRUSTED = {
    "stranger's signature": lambda stranger: _resigned(key=stranger),
    "stale timestamp": lambda _: _resigned(timestamp=stale_timestamp()),
    "unknown serial": lambda _: _resigned(serial="PUB_KEY_ID_0000000000000000000000"),
}


def _signed_by(key: Any) -> Any:
    """A request hook: the same request, its Authorization signed with `key`."""

    def sign(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        config = wechatpay_config()
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = wechatpay_protocol.build_authorization(
            method=method,
            canonical_url=path.removeprefix(PREFIX),
            body=body,
            mchid=config.mchid,
            serial_no=config.cert_serial,
            private_key=key,
        )
        return headers

    return sign


def _order(resident: Any, bill: Any, key: str) -> PaymentOrder:
    return order_create(payer=resident, channel="wechat_native", bills=[bill], idempotency_key=key)


def _row(order: PaymentOrder) -> PaymentOrder:
    return PaymentOrder.objects.get(pk=order.pk)


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_an_untrusted_create_answer_is_unknown_and_the_honest_replay_gets_the_same_order(
    through_proxy, bills, resident, stranger_key, case
):
    order = _order(resident, bills[0], f"untrusted-create-{case}")
    through_proxy.rewrite = UNTRUSTED[case](stranger_key)
    # when the simulator creates the order but its answer cannot be trusted
    assert order_prepare(order) is None
    row = _row(order)
    assert (row.status, row.prepay, row.failure) == ("unknown", {}, ""), case
    assert row.next_check_at is not None
    assert sim_order(order).state == "pending"  # it does exist at the provider
    sent = row.provider_request
    # then an honest answer again: the query finds it waiting, the replay gets the same code
    through_proxy.rewrite = None
    assert order_sync(order).status == "pending"
    pay = order_prepare(order)
    assert pay is not None
    assert pay["code_url"] == sim_order(order).code_url
    assert _row(order).provider_request == sent
    assert SandboxPaymentOrder.objects.count() == 1
    assert bill_status(bills[0]) == ("issued", 0)


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_an_untrusted_query_answer_saying_paid_changes_nothing_until_an_honest_one(
    through_proxy, bills, resident, house_a, stranger_key, case
):
    order = _order(resident, bills[0], f"untrusted-query-{case}")
    knobs_set(out_trade_no=order.out_trade_no, notify_drop=True)
    order_prepare(order)
    cashier_pay(order)  # paid at the provider, the notify lost
    through_proxy.rewrite = UNTRUSTED[case](stranger_key)
    # when the query's answer (SUCCESS) cannot be trusted, nothing moves
    for status in ("pending", "unknown"):
        PaymentOrder.objects.filter(pk=order.pk).update(status=status)
        assert order_sync(order).status == status, case
        assert (payments_of(house_a), bill_status(bills[0])) == ([], ("issued", 0))
    # then the honest answer settles it, once
    through_proxy.rewrite = None
    assert order_sync(order).status == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert bill_status(bills[0]) == ("paid", BILL_FEN)


def test_a_request_refused_with_sign_error_fails_the_attempt_once_and_is_not_resent(
    through_proxy, payment_settings, bills, resident, stranger_key
):
    order = _order(resident, bills[0], "sign-error")
    # the request reaches the provider signed with a key it never registered
    through_proxy.sign = _signed_by(stranger_key)
    # when the order is prepared, the simulator answers 401 SIGN_ERROR
    with pytest.raises(ApplicationError) as refused:
        order_prepare(order)
    # then the refusal is surfaced, the attempt failed with the provider's code, sent once
    assert (refused.value.code, refused.value.status) == ("payment_provider_refused", 400)
    row = _row(order)
    assert (row.status, row.failure.split(":")[0], row.prepay) == ("failed", "SIGN_ERROR", {})
    assert through_proxy.count("/v3/pay/transactions/native") == 1
    assert not SandboxPaymentOrder.objects.exists()
    assert bill_status(bills[0]) == ("issued", 0)
    # a later sync leaves it failed, and a repeat prepare is refused here, never resent
    assert order_sync(order).status == "failed"
    with pytest.raises(ApplicationError):
        order_prepare(order)
    assert through_proxy.count("/v3/pay/transactions/native") == 1


def test_a_query_refused_with_sign_error_keeps_the_order_as_it_was(
    through_proxy, payment_settings, bills, resident, stranger_key
):
    order = _order(resident, bills[0], "sign-error-query")
    order_prepare(order)
    through_proxy.sign = _signed_by(stranger_key)
    for status in ("pending", "unknown"):
        PaymentOrder.objects.filter(pk=order.pk).update(status=status)
        assert order_sync(order).status == status
    assert through_proxy.count("/v3/pay/transactions/out-trade-no/") == 2
    assert sim_order(order).state == "pending"
