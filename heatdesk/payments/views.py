"""Provider notify endpoints (CSRF-exempt, no login: the signature is the authentication).

Each answers in its provider's exact words, and only after the transaction that applied the
notify committed: WeChat Pay 200 with an empty body (refusal: 4xx with {code, message}),
Alipay the plain body `success` (refusal: `fail`). A refusal changes nothing and leaves an
alert with the raw request; nothing here answers with a stack trace.
"""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from heatdesk.core.errors import ApplicationError
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.notify import (
    ALIPAY,
    REFUND,
    WECHATPAY,
    VerifiedNotify,
    alipay_parse_notify,
    wechatpay_parse_notify,
)
from heatdesk.payments.providers.errors import NotifyRejected
from heatdesk.payments.services.notifies import notify_apply, notify_rejected_record
from heatdesk.payments.services.sync import order_sync

logger = logging.getLogger("heatdesk.payments.notify")


def _refund_before_payment(verified: VerifiedNotify) -> None:
    """A refund notify for an order we do not yet know as paid: the payment notify is late or
    lost, so ask the provider first (outside any transaction), then apply the refund."""
    if verified.kind != REFUND:
        return
    order = PaymentOrder.objects.filter(
        provider=verified.provider, out_trade_no=verified.out_trade_no
    ).first()
    if order is not None and order.status != PaymentOrder.Status.PAID:
        order_sync(order)


def _handle(
    request: HttpRequest,
    *,
    provider: str,
    parse: Callable[[], VerifiedNotify],
    ok: Callable[[], HttpResponse],
    refuse: Callable[[NotifyRejected], HttpResponse],
) -> HttpResponse:
    verified: VerifiedNotify | None = None
    try:
        verified = parse()
        _refund_before_payment(verified)
        notify_apply(verified)
    except NotifyRejected as exc:
        notify_rejected_record(
            provider=provider,
            reason=exc.message,
            headers=dict(request.headers),
            body=request.body,
            out_trade_no=verified.out_trade_no if verified else "",
        )
        return refuse(exc)
    except ApplicationError as exc:
        # Genuine but not applicable yet (a refund overtaking its payment): not acknowledged,
        # so the provider delivers it again later.
        logger.warning("%s notify not applied yet: %s", provider, exc.code)
        return refuse(NotifyRejected(exc.message, code=exc.code))
    except Exception:
        # Not the sender's fault: no acknowledgement, so the provider delivers it again.
        logger.exception("%s notify could not be applied", provider)
        return refuse(NotifyRejected("暂时无法处理，请稍后重试。", code="temporarily_unavailable"))
    return ok()


@csrf_exempt
@require_POST
def wechatpay_notify(request: HttpRequest) -> HttpResponse:
    return _handle(
        request,
        provider=WECHATPAY,
        parse=lambda: wechatpay_parse_notify(request.headers, request.body),
        ok=lambda: HttpResponse(status=200),
        refuse=lambda exc: JsonResponse(
            {"code": "FAIL", "message": exc.message[:200]},
            status=503 if exc.code == "temporarily_unavailable" else 400,
        ),
    )


@csrf_exempt
@require_POST
def alipay_notify(request: HttpRequest) -> HttpResponse:
    return _handle(
        request,
        provider=ALIPAY,
        parse=lambda: alipay_parse_notify(request.POST),
        ok=lambda: HttpResponse(b"success", content_type="text/plain; charset=utf-8"),
        refuse=lambda exc: HttpResponse(b"fail", content_type="text/plain; charset=utf-8"),
    )
