"""Ask the provider what became of an order and apply its answer, monotonically.

SUCCESS settles; CLOSED, an unpaid order past its expiry, or an order that never reached the
provider after a create whose outcome was unknown closes; anything unclear (timeout, 5xx, an
answer that does not verify, a foreign merchant) changes nothing. Used by the resident's
confirm/poll, the janitor, reconciliation and `order_close`. No lock is held across the call.
"""

import datetime as dt
import logging

from django.core.cache import cache

from heatdesk.core import clock
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Provider
from heatdesk.payments.providers.config import alipay_client, wechatpay_client
from heatdesk.payments.providers.errors import ProviderOutcomeUnknown, ProviderRefused
from heatdesk.payments.services.alerts import alert_raise
from heatdesk.payments.services.common import Status, order_cas, order_fresh, provider_time
from heatdesk.payments.services.settlement import order_settle

logger = logging.getLogger("heatdesk.payments.sync")

WECHAT_PAID = frozenset({"SUCCESS", "REFUND"})
WECHAT_CLOSED = frozenset({"CLOSED", "REVOKED"})
ALIPAY_PAID = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
NOT_EXIST_CODES = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ACQ.TRADE_NOT_EXIST"})


def order_close_locally(order: PaymentOrder, *, reason: str) -> bool:
    """CLOSED from an open status (the provider holds no payable order any more)."""
    fields: dict[str, object] = {"closed_at": clock.now(), "next_check_at": None}
    if reason:
        fields["failure"] = reason[:200]
    return order_cas(order, from_statuses=PaymentOrder.OPEN, to=Status.CLOSED, **fields)


def _expired(order: PaymentOrder) -> bool:
    return order.expires_at is not None and order.expires_at <= clock.now()


def _unpaid(order: PaymentOrder) -> PaymentOrder:
    """The provider holds the order unpaid: closed once expired, else waiting for the payer."""
    if _expired(order):
        order_close_locally(order, reason="")
    elif order.status == Status.UNKNOWN:
        order_cas(order, from_statuses={Status.UNKNOWN}, to=Status.PENDING)
    return order_fresh(order)


def _foreign(order: PaymentOrder, *, what: str, detail: dict[str, object]) -> PaymentOrder:
    alert_raise(
        kind=PaymentAlert.Kind.RECONCILIATION,
        message=f"查单结果与订单不符（{what}），未处理。",
        provider=order.provider,
        out_trade_no=order.out_trade_no,
        detail=detail,
    )
    return order


def _sync_wechatpay(order: PaymentOrder) -> PaymentOrder:
    client = wechatpay_client()
    txn = client.query_order(order.out_trade_no)
    config = client.config
    if (txn.mchid, txn.appid, txn.out_trade_no) != (
        config.mchid,
        config.appid,
        order.out_trade_no,
    ):
        return _foreign(order, what="商户号/应用/订单号", detail={"answer": txn.raw})
    if txn.trade_state in WECHAT_PAID:
        return order_settle(
            order=order,
            transaction_id=txn.transaction_id,
            paid_fen=txn.total_fen,
            paid_at=provider_time(txn.success_time),
        )
    if txn.trade_state in WECHAT_CLOSED:
        order_close_locally(order, reason="")
        return order_fresh(order)
    if txn.trade_state == "PAYERROR":
        order_cas(order, from_statuses=PaymentOrder.OPEN, to=Status.FAILED, failure="PAYERROR")
        return order_fresh(order)
    return _unpaid(order)  # NOTPAY, USERPAYING


def _sync_alipay(order: PaymentOrder) -> PaymentOrder:
    trade = alipay_client().query(out_trade_no=order.out_trade_no)
    if trade.out_trade_no and trade.out_trade_no != order.out_trade_no:
        return _foreign(order, what="订单号", detail={"answer": trade.raw})
    paid_then_refunded = trade.trade_status == "TRADE_CLOSED" and bool(trade.send_pay_date)
    if trade.trade_status in ALIPAY_PAID or paid_then_refunded:
        return order_settle(
            order=order,
            transaction_id=trade.trade_no,
            paid_fen=trade.total_fen,
            paid_at=provider_time(trade.send_pay_date),
        )
    if trade.trade_status == "TRADE_CLOSED":
        order_close_locally(order, reason="")
        return order_fresh(order)
    return _unpaid(order)  # WAIT_BUYER_PAY


def order_sync(order: PaymentOrder) -> PaymentOrder:
    """Query the provider and apply what it says; returns the order as it now stands."""
    order = order_fresh(order)
    if order.provider == Provider.COUNTER or order.status in {Status.PAID, Status.VOIDED}:
        return order
    try:
        if order.provider == Provider.WECHATPAY:
            return _sync_wechatpay(order)
        return _sync_alipay(order)
    except ProviderOutcomeUnknown as exc:
        logger.info("order %s: query outcome unknown (%s)", order.out_trade_no, exc)
        return order
    except ProviderRefused as exc:
        if exc.code not in NOT_EXIST_CODES:
            logger.warning("order %s: query refused (%s)", order.out_trade_no, exc)
            return order
        if order.status == Status.UNKNOWN and order.provider == Provider.WECHATPAY:
            # The create whose answer we never got did not arrive: nothing can be paid.
            order_close_locally(order, reason="下单请求未到达支付平台")
        elif _expired(order) or order.status == Status.UNKNOWN:
            order_close_locally(order, reason="")
        return order_fresh(order)


# A payer waiting on a result page: ask the provider once an open order is this old, and at most
# this often per order, however many pages, tabs or API clients poll it (§4.4 rule 12).
CONFIRM_AFTER = dt.timedelta(seconds=3)
CONFIRM_EVERY_SECONDS = 3


def order_confirm_if_due(order: PaymentOrder) -> bool:
    """Query the provider for an open order a payer is waiting on, throttled per order across
    processes through the shared cache; True when it asked (re-read the order then)."""
    if order.status not in PaymentOrder.OPEN or not order.provider_request:
        return False
    if clock.now() - order.created_at < CONFIRM_AFTER:
        return False
    if not cache.add(f"payments:sync:{order.pk}", 1, timeout=CONFIRM_EVERY_SECONDS):
        return False
    order_sync(order)
    return True
