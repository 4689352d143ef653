"""Alerts finance must look at: written to the table the staff view reads, and to the log."""

import logging
from typing import Any

from heatdesk.payments.models import PaymentAlert

logger = logging.getLogger("heatdesk.payments.alerts")
MESSAGE_MAX = 300


def alert_raise(
    *,
    kind: str,
    message: str,
    provider: str = "",
    out_trade_no: str = "",
    detail: dict[str, Any] | None = None,
) -> PaymentAlert:
    """Record something that needs a person (a rejected notify, a late or double payment…).

    Runs in the caller's transaction when there is one: an alert about a change that is rolled
    back disappears with it, which is what callers want for settlement alerts. Rejections are
    recorded by callers outside any transaction."""
    alert = PaymentAlert.objects.create(
        kind=kind,
        provider=provider[:20],
        out_trade_no=out_trade_no[:32],
        message=message[:MESSAGE_MAX],
        detail=detail or {},
    )
    logger.warning(
        "payment alert %s: %s (provider=%s out_trade_no=%s)",
        kind,
        message,
        provider or "-",
        out_trade_no or "-",
    )
    return alert
