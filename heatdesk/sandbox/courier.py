"""Delivering the simulators' notifies to the merchant, with the providers' retry schedules.

A notify is a `SandboxNotifyDelivery` row written in the same transaction as the payment or
refund that causes it. After commit a background thread (one per process) is woken; it claims due
rows with a compare-and-set, POSTs them and records the answer, so any number of processes may
run couriers. `deliver_due()` does one pass synchronously (tests, the periodic job).

WeChat Pay counts 200/204 as acknowledged and signs each attempt afresh; Alipay stops only on
the exact body `success`. Anything else is retried on the provider's schedule, then given up.
"""

import datetime as dt
import logging
import threading
import urllib.error
import urllib.request
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Q

from heatdesk.core import clock
from heatdesk.payments.providers import wechatpay_protocol
from heatdesk.sandbox.payment_config import wechatpay_sim
from heatdesk.sandbox.payment_knobs import knob
from heatdesk.sandbox.payment_models import Provider, SandboxNotifyDelivery

logger = logging.getLogger("heatdesk.sandbox.courier")

# Seconds between attempts, as the providers document them.
WECHATPAY_RETRIES = [
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
]
ALIPAY_RETRIES = [240, 600, 600, 3600, 7200, 21600, 54000]
CLAIM_SECONDS = 30
SIGNTEST = "SIGNTEST"  # event type of a WeChat Pay probe notify (sent once, any answer ends it)
POST_TIMEOUT_SECONDS = 5.0


def notify_enqueue(
    *,
    provider: str,
    order: Any,
    refund: Any = None,
    event_id: str,
    event_type: str,
    url: str,
    body: str,
) -> SandboxNotifyDelivery:
    """Record a notify owed to the merchant, applying this order's knobs; sent after commit."""
    no = order.out_trade_no
    refund_no = refund.out_refund_no if refund is not None else ""

    def setting(name: str, default: Any) -> Any:
        if refund_no:
            value = knob(name, None, out_refund_no=refund_no)
            if value is not None:
                return value
        return knob(name, default, out_trade_no=no)

    state = SandboxNotifyDelivery.State.PENDING
    if setting("notify_drop", False):
        state = SandboxNotifyDelivery.State.DROPPED
    elif setting("notify_reorder", False):
        state = SandboxNotifyDelivery.State.HELD
    delivery = SandboxNotifyDelivery.objects.create(
        provider=provider,
        order=order,
        refund=refund,
        event_id=event_id,
        event_type=event_type,
        url=url,
        body=body,
        state=state,
        copies=1 + int(setting("notify_duplicate", 0)),
        next_attempt_at=clock.now() + dt.timedelta(seconds=float(setting("notify_delay", 0))),
    )
    transaction.on_commit(wake)
    return delivery


def _post(delivery: SandboxNotifyDelivery) -> tuple[int, bytes]:
    body = delivery.body.encode("utf-8")
    if delivery.provider == Provider.WECHATPAY:
        sim = wechatpay_sim()
        if knob(
            "wechatpay_notify_mode", "public_key", out_trade_no=delivery.order.out_trade_no
        ) == ("certificate"):
            serial = sim.cert_serial
        else:
            serial = sim.public_key_id
        headers = wechatpay_protocol.sign_response(
            body=body, private_key=sim.platform_key, serial=serial
        )
        if delivery.event_type == SIGNTEST:
            # WeChat Pay's probe: a deliberately broken signature the merchant must refuse.
            headers["Wechatpay-Signature"] = (
                wechatpay_protocol.SIGNTEST_PREFIX + headers["Wechatpay-Signature"]
            )
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "Mozilla/4.0"
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = urllib.request.Request(delivery.url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read(4096)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(4096)
    except (OSError, ValueError) as exc:
        return 0, type(exc).__name__.encode()


def _acknowledged(provider: str, status: int, answer: bytes) -> bool:
    if provider == Provider.WECHATPAY:
        return status in (200, 204)
    return status == 200 and answer == b"success"


def release_held() -> None:
    SandboxNotifyDelivery.objects.filter(state=SandboxNotifyDelivery.State.HELD).update(
        state=SandboxNotifyDelivery.State.PENDING, next_attempt_at=clock.now()
    )


def deliver_one(delivery_id: int) -> bool:
    """Claim one due delivery and attempt it; False if another courier has it."""
    now = clock.now()
    claimed = (
        SandboxNotifyDelivery.objects.filter(
            id=delivery_id, state=SandboxNotifyDelivery.State.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
    )
    if not claimed:
        return False
    delivery = SandboxNotifyDelivery.objects.select_related("order").get(id=delivery_id)
    status, answer = _post(delivery)
    now = clock.now()
    fields: dict[str, Any] = {
        "attempts": delivery.attempts + 1,
        "last_status": status,
        "last_answer": answer[:200].decode("utf-8", "replace"),
        "claimed_until": None,
    }
    if delivery.event_type == SIGNTEST:
        # One probe, whatever the answer: last_status shows whether the merchant refused it.
        fields["delivered"] = 1
        fields["state"] = SandboxNotifyDelivery.State.DELIVERED
        fields["delivered_at"] = now
    elif _acknowledged(delivery.provider, status, answer):
        fields["delivered"] = delivery.delivered + 1
        if fields["delivered"] >= delivery.copies:
            fields["state"] = SandboxNotifyDelivery.State.DELIVERED
            fields["delivered_at"] = now
        else:
            fields["next_attempt_at"] = now  # the duplicate knob: send it again at once
    else:
        schedule = WECHATPAY_RETRIES if delivery.provider == Provider.WECHATPAY else ALIPAY_RETRIES
        failures = delivery.attempts + 1 - delivery.delivered
        if failures > len(schedule):
            fields["state"] = SandboxNotifyDelivery.State.FAILED
        else:
            scale = float(knob("retry_scale", 1.0))
            fields["next_attempt_at"] = now + dt.timedelta(seconds=schedule[failures - 1] * scale)
    SandboxNotifyDelivery.objects.filter(id=delivery_id).update(**fields)
    if fields.get("state") == SandboxNotifyDelivery.State.DELIVERED and delivery.event_type != (
        SIGNTEST
    ):
        release_held()
    return True


def deliver_due(*, limit: int = 100) -> int:
    """One pass: attempt every delivery that is due now. Returns the number attempted."""
    due = list(
        SandboxNotifyDelivery.objects.filter(
            state=SandboxNotifyDelivery.State.PENDING, next_attempt_at__lte=clock.now()
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for delivery_id in due if deliver_one(delivery_id))


def next_due_in() -> float | None:
    """Seconds until the next pending delivery is due, None if nothing is pending."""
    upcoming = (
        SandboxNotifyDelivery.objects.filter(state=SandboxNotifyDelivery.State.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if upcoming is None:
        return None
    return max(0.0, (upcoming - clock.now()).total_seconds())


class _Courier(threading.Thread):
    def __init__(self, shared_connection: Any = None) -> None:
        super().__init__(name="sandbox-notify-courier", daemon=True)
        self.event = threading.Event()
        self.shared_connection = shared_connection

    def run(self) -> None:
        if self.shared_connection is not None:
            # An in-memory SQLite database (the test suite's) exists only inside its one
            # connection: share it, as Django's live test server does.
            connections[DEFAULT_DB_ALIAS] = self.shared_connection
        while True:
            self.event.clear()
            wait: float | None = None
            try:
                deliver_due()
                wait = next_due_in()
            except Exception:  # noqa: BLE001 - the courier must survive a bad pass
                logger.exception("sandbox notify courier pass failed")
                wait = 1.0
            finally:
                connections.close_all()  # this thread's connections only
            self.event.wait(timeout=None if wait is None else min(wait, 60.0) + 0.01)


_courier: _Courier | None = None
_courier_lock = threading.Lock()


def wake() -> None:
    """Start this process's courier if needed and make it look for due deliveries now."""
    global _courier
    with _courier_lock:
        if _courier is None or not _courier.is_alive():
            connection = connections[DEFAULT_DB_ALIAS]
            shared = None
            if connection.vendor == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
                connection.inc_thread_sharing()
                shared = connection
            _courier = _Courier(shared)
            _courier.start()
        _courier.event.set()
