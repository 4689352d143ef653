"""Small pieces every payment service shares: minting order numbers, the order's
compare-and-set, and reading provider times."""

import datetime as dt
import secrets
from typing import Any

from heatdesk.core import clock
from heatdesk.core.errors import Conflict
from heatdesk.payments.models import PaymentOrder

Status = PaymentOrder.Status
_NO_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def out_trade_no_mint() -> str:
    """A new merchant order number: 'HD' + Beijing date + 16 random characters (26 in all,
    within both providers' ≤32 [0-9A-Za-z_-] rule). Never reused, even for a retry."""
    stamp = clock.to_local(clock.now()).strftime("%Y%m%d")
    return f"HD{stamp}" + "".join(secrets.choice(_NO_ALPHABET) for _ in range(16))


def order_cas(
    order: PaymentOrder, *, from_statuses: frozenset[str] | set[str], to: str, **fields: Any
) -> bool:
    """Move the order to `to` if its status is still one of `from_statuses` (and `to` is an
    allowed move from it). True if this call made the move; the instance follows the row."""
    allowed = {s for s in from_statuses if to in PaymentOrder.TRANSITIONS[s]}
    if not allowed:
        return False
    now = clock.now()
    moved = PaymentOrder.objects.filter(pk=order.pk, status__in=allowed).update(
        status=to, updated_at=now, **fields
    )
    if moved:
        order.refresh_from_db()
    return bool(moved)


def order_fresh(order: PaymentOrder) -> PaymentOrder:
    return PaymentOrder.objects.get(pk=order.pk)


def order_schedule_check(order: PaymentOrder, *, seconds: float) -> None:
    """Ask the janitor to query this order again after `seconds`."""
    PaymentOrder.objects.filter(pk=order.pk).update(
        next_check_at=clock.now() + dt.timedelta(seconds=seconds)
    )


def order_not_open(order: PaymentOrder) -> Conflict:
    return Conflict(
        f"该支付订单状态为“{order.get_status_display()}”，不能继续支付。",
        code="payment_order_not_open",
    )


def provider_time(text: str) -> dt.datetime | None:
    """A provider's timestamp: WeChat RFC 3339 ('2026-11-20T10:00:00+08:00') or Alipay's
    Beijing 'yyyy-MM-dd HH:mm:ss'. None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.SHANGHAI)
    return moment
