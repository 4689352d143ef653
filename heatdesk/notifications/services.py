"""Queueing and delivering messages."""

import datetime as dt
import json

from django.db import transaction

from heatdesk.core import clock, crypto
from heatdesk.notifications.models import OutboundSms
from heatdesk.notifications.sms.base import SmsError, SmsMessage
from heatdesk.notifications.sms.registry import get_provider
from heatdesk.notifications.sms.templates import TEMPLATES

MAX_ATTEMPTS = 5


def sms_queue(*, phone: str, template: str, params: dict[str, str]) -> OutboundSms:
    """Record an SMS and enqueue its delivery in the caller's transaction (sent after commit)."""
    from heatdesk.notifications.tasks import sms_deliver

    if template not in TEMPLATES:
        raise ValueError(f"unknown SMS template {template!r}")
    message = OutboundSms.objects.create(
        phone=phone,
        phone_hash=crypto.blind_index(phone, purpose="phone"),
        template=template,
        params_json=json.dumps(params, ensure_ascii=False),
    )
    sms_deliver.enqueue(message.pk)
    return message


def sms_deliver_one(*, message_id: int) -> OutboundSms:
    """Send one queued SMS. Safe to run twice: a sent message is not sent again."""
    with transaction.atomic():
        message = OutboundSms.objects.select_for_update().get(pk=message_id)
        if message.status != OutboundSms.Status.QUEUED:
            return message
        message.attempts += 1
        message.save(update_fields=["attempts"])
    params = json.loads(message.params_json)
    template = TEMPLATES[message.template]
    provider = get_provider()
    try:
        receipt = provider.send(
            SmsMessage(
                phone=message.phone,
                template=message.template,
                params=params,
                text=template.render(params),
            )
        )
    except SmsError as exc:
        final = not exc.retryable or message.attempts >= MAX_ATTEMPTS
        OutboundSms.objects.filter(pk=message.pk, status=OutboundSms.Status.QUEUED).update(
            error=str(exc)[:500],
            provider=provider.name,
            status=OutboundSms.Status.FAILED if final else OutboundSms.Status.QUEUED,
        )
        message.refresh_from_db()
        return message
    OutboundSms.objects.filter(pk=message.pk, status=OutboundSms.Status.QUEUED).update(
        status=OutboundSms.Status.SENT,
        provider=receipt.provider,
        provider_message_id=receipt.message_id[:80],
        sent_at=clock.now(),
        error="",
    )
    message.refresh_from_db()
    return message


def sms_requeue_stuck(
    *,
    stuck_for: dt.timedelta = dt.timedelta(minutes=2),
    give_up_after: dt.timedelta = dt.timedelta(days=1),
    limit: int = 500,
) -> int:
    """Enqueue delivery again for messages still queued after `stuck_for` (a periodic job).

    Picks up a delivery whose task was lost or that failed in a way worth retrying. Delivery is
    idempotent, so a message whose first task is merely late is not sent twice. Messages older
    than `give_up_after` are left alone: a login code that late is of no use to anyone.
    """
    from heatdesk.notifications.tasks import sms_deliver

    now = clock.now()
    stuck = list(
        OutboundSms.objects.filter(
            status=OutboundSms.Status.QUEUED,
            created_at__lt=now - stuck_for,
            created_at__gte=now - give_up_after,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in stuck:
        sms_deliver.enqueue(message_id)
    return len(stuck)
