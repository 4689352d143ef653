"""State changes shared by both simulated providers: the payer's choice at the cashier."""

import datetime as dt

from django.db import transaction

from heatdesk.core import clock
from heatdesk.core.ids import new_short_code
from heatdesk.sandbox.payment_models import Provider, SandboxPaymentOrder

OUTCOMES = ("succeed", "fail", "cancel")


class SimError(Exception):
    """A refusal in the simulated provider's own vocabulary (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def new_transaction_id(provider: str) -> str:
    stamp = clock.now().strftime("%Y%m%d")
    digits = "".join(str(int(c, 36) % 10) for c in new_short_code(18))
    return f"42000{digits}{stamp}" if provider == Provider.WECHATPAY else f"{stamp}22{digits}"


def _expired(time_expire: str) -> bool:
    """Past the order's time_expire (RFC 3339 for WeChat, yyyy-MM-dd HH:mm:ss GMT+8 for Alipay)."""
    if not time_expire:
        return False
    try:
        deadline = dt.datetime.fromisoformat(time_expire)
    except ValueError:
        return False
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return clock.now() > deadline


def order_pay_outcome(*, order_id: int, outcome: str) -> SandboxPaymentOrder:
    """The payer chose at the cashier. Success pays the order (once) and owes the merchant a
    notify; failure and cancel leave it unpaid, as the providers do (no notify for those)."""
    if outcome not in OUTCOMES:
        raise SimError(400, "INVALID_OUTCOME", "outcome must be succeed, fail or cancel")
    with transaction.atomic():
        order = SandboxPaymentOrder.objects.select_for_update().get(id=order_id)
        if order.state != SandboxPaymentOrder.State.PENDING:
            raise SimError(400, "ORDER_NOT_PENDING", f"订单状态为 {order.get_state_display()}")
        if outcome == "succeed" and _expired(order.time_expire):
            raise SimError(400, "ORDER_EXPIRED", "订单已超过支付截止时间")
        if outcome != "succeed":
            order.last_outcome = outcome
            order.visible = True
            order.save(update_fields=["last_outcome", "visible"])
            return order
        order.state = SandboxPaymentOrder.State.PAID
        order.visible = True
        order.last_outcome = outcome
        order.paid_at = clock.now()
        order.transaction_id = new_transaction_id(order.provider)
        order.save(update_fields=["state", "visible", "last_outcome", "paid_at", "transaction_id"])
        if order.provider == Provider.WECHATPAY:
            from heatdesk.sandbox.wechatpay.services import payment_notify
        else:
            from heatdesk.sandbox.alipay.services import payment_notify
        payment_notify(order)
    return order
