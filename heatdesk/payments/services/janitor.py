"""The payments janitor: no order or refund stays unresolved without someone asking the provider.

Every minute it takes a bounded batch of open orders (PENDING, UNKNOWN, or CREATED with a
request already sent) and refunds (PROCESSING, UNKNOWN) whose next check is due, claims each by
compare-and-set on its attempt counter, and asks the provider: `order_sync` (or `order_close`
once the order has expired: close, then query again, so a payment that raced the close wins),
`refund_sync` for refunds. An unclear answer changes no status (never downgraded). Each try
moves the next check along PAYMENTS_JANITOR_BACKOFF_SECONDS; when the schedule is used up the
row is marked `needs_attention` and a JANITOR_GAVE_UP alert asks a person to look.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from heatdesk.core import clock
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Provider, Refund

logger = logging.getLogger("heatdesk.payments.janitor")

BATCH = 50  # rows of each kind per run; the next minute takes the next batch
ORDER_WATCHED = (
    PaymentOrder.Status.PENDING,
    PaymentOrder.Status.UNKNOWN,
    PaymentOrder.Status.CREATED,
)
REFUND_WATCHED = (Refund.Status.PROCESSING, Refund.Status.UNKNOWN)


@dataclass
class JanitorRun:
    checked_orders: list[str] = field(default_factory=list)
    checked_refunds: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"orders {len(self.checked_orders)}, refunds {len(self.checked_refunds)}, "
            f"gave up {len(self.gave_up)}"
        )


def backoff_schedule() -> list[int]:
    return [int(s) for s in settings.PAYMENTS_JANITOR_BACKOFF_SECONDS] or [60]


def _next_check(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to ask again after `attempts` tries; None when the schedule is used up."""
    schedule = backoff_schedule()
    if attempts >= len(schedule):
        return None
    return now + dt.timedelta(seconds=schedule[attempts])


def _due_orders(now: dt.datetime) -> list[PaymentOrder]:
    first = dt.timedelta(seconds=backoff_schedule()[0])
    sent = ~Q(status=PaymentOrder.Status.CREATED) | ~Q(provider_request="")
    due = Q(next_check_at__lte=now) | Q(next_check_at__isnull=True, created_at__lte=now - first)
    return list(
        PaymentOrder.objects.filter(sent, due, status__in=ORDER_WATCHED, needs_attention=False)
        .exclude(provider=Provider.COUNTER)
        .order_by("next_check_at", "pk")[:BATCH]
    )


def _due_refunds(now: dt.datetime) -> list[Refund]:
    first = dt.timedelta(seconds=backoff_schedule()[0])
    due = Q(next_check_at__lte=now) | Q(next_check_at__isnull=True, updated_at__lte=now - first)
    return list(
        Refund.objects.filter(due, status__in=REFUND_WATCHED, needs_attention=False)
        .exclude(order__provider=Provider.COUNTER)
        .order_by("next_check_at", "pk")[:BATCH]
    )


def _claim(
    model: type[PaymentOrder] | type[Refund], row: PaymentOrder | Refund, now: dt.datetime
) -> int | None:
    """Count this try and push the next check out before calling the provider: of two janitors
    that picked the same row, only one wins the compare-and-set on the attempt counter.
    Returns the row's attempt count after this try (None: another janitor has it)."""
    attempts = row.check_attempts + 1
    claimed = model.objects.filter(pk=row.pk, check_attempts=row.check_attempts).update(
        check_attempts=attempts,
        # Used up: no next check; the row goes to a person if the call leaves it open.
        next_check_at=_next_check(attempts, now),
    )
    return attempts if claimed else None


def _reschedule(
    model: type[PaymentOrder] | type[Refund],
    pk: int,
    watched: tuple[str, ...],
    attempts: int,
    now: dt.datetime,
) -> bool:
    """After the call: the janitor's schedule decides when to ask again (services may have
    stamped their own next check meanwhile). False when the schedule is used up."""
    later = _next_check(attempts, now)
    model.objects.filter(pk=pk, status__in=watched).update(
        check_attempts=attempts, next_check_at=later
    )
    return later is not None


def _give_up_order(order: PaymentOrder, run: JanitorRun) -> None:
    from heatdesk.payments.services.alerts import alert_raise

    marked = PaymentOrder.objects.filter(
        pk=order.pk, status__in=PaymentOrder.OPEN, needs_attention=False
    ).update(needs_attention=True)
    if marked:
        run.gave_up.append(order.out_trade_no)
        alert_raise(
            kind=PaymentAlert.Kind.JANITOR_GAVE_UP,
            message=(
                f"订单 {order.out_trade_no} 查询 {order.check_attempts} 次仍为"
                f"“{order.get_status_display()}”，请人工核实"
            ),
            provider=order.provider,
            out_trade_no=order.out_trade_no,
            detail={"status": order.status, "attempts": order.check_attempts},
        )


def _give_up_refund(refund: Refund, run: JanitorRun) -> None:
    from heatdesk.payments.services.alerts import alert_raise

    marked = Refund.objects.filter(
        pk=refund.pk, status__in=REFUND_WATCHED, needs_attention=False
    ).update(needs_attention=True)
    if marked:
        run.gave_up.append(refund.out_refund_no)
        alert_raise(
            kind=PaymentAlert.Kind.JANITOR_GAVE_UP,
            message=(
                f"退款 {refund.out_refund_no} 查询 {refund.check_attempts} 次仍为"
                f"“{refund.get_status_display()}”，请人工核实"
            ),
            provider=refund.order.provider,
            out_trade_no=refund.order.out_trade_no,
            detail={
                "out_refund_no": refund.out_refund_no,
                "status": refund.status,
                "attempts": refund.check_attempts,
            },
        )


def _order_check(order: PaymentOrder, now: dt.datetime, run: JanitorRun) -> None:
    from heatdesk.payments.services.orders import order_close
    from heatdesk.payments.services.sync import order_sync

    attempts = _claim(PaymentOrder, order, now)
    if attempts is None:
        return
    run.checked_orders.append(order.out_trade_no)
    try:
        if order.expires_at is not None and order.expires_at <= now:
            order_close(order)
        else:
            order_sync(order)
    except Exception:  # a provider or bug on one order must not stop the batch
        logger.exception("janitor: order %s check failed", order.out_trade_no)
    fresh = PaymentOrder.objects.get(pk=order.pk)
    if fresh.status not in PaymentOrder.OPEN:
        PaymentOrder.objects.filter(pk=order.pk).exclude(status__in=PaymentOrder.OPEN).update(
            next_check_at=None
        )
    elif not _reschedule(PaymentOrder, order.pk, ORDER_WATCHED, attempts, now):
        _give_up_order(PaymentOrder.objects.get(pk=order.pk), run)


def _refund_check(refund: Refund, now: dt.datetime, run: JanitorRun) -> None:
    from heatdesk.payments.services.refunds import refund_sync

    attempts = _claim(Refund, refund, now)
    if attempts is None:
        return
    run.checked_refunds.append(refund.out_refund_no)
    try:
        refund_sync(refund)
    except Exception:
        logger.exception("janitor: refund %s check failed", refund.out_refund_no)
    fresh = Refund.objects.select_related("order").get(pk=refund.pk)
    if fresh.status not in REFUND_WATCHED:
        Refund.objects.filter(pk=refund.pk).exclude(status__in=REFUND_WATCHED).update(
            next_check_at=None
        )
    elif not _reschedule(Refund, refund.pk, REFUND_WATCHED, attempts, now):
        _give_up_refund(Refund.objects.select_related("order").get(pk=refund.pk), run)


def janitor_run() -> JanitorRun:
    """One pass over the due orders and refunds (at most BATCH of each)."""
    now = clock.now()
    run = JanitorRun()
    for order in _due_orders(now):
        _order_check(order, now, run)
    for refund in _due_refunds(now):
        _refund_check(refund, now, run)
    if run.checked_orders or run.checked_refunds:
        logger.info("janitor: %s", run)
    return run
