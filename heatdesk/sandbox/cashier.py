"""The simulators' cashier page and their test controls (sandbox mode only).

/sandbox/pay/<id>/ stands in for the payer's phone: it shows the order and lets the payer
succeed, fail or cancel; success makes the simulated provider owe the merchant a signed notify.
Opening the page counts as scanning an Alipay QR code (the trade then exists for queries).
The control endpoints set test knobs, settle refunds kept PROCESSING and run the courier.
"""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from heatdesk.core.money import format_fen
from heatdesk.sandbox import courier
from heatdesk.sandbox.payment_knobs import knobs_reset, knobs_set
from heatdesk.sandbox.payment_models import (
    Provider,
    SandboxNotifyDelivery,
    SandboxPaymentOrder,
    SandboxPaymentRefund,
)
from heatdesk.sandbox.payment_services import OUTCOMES, SimError, order_pay_outcome


@require_http_methods(["GET"])
def cashier_list(request: HttpRequest) -> HttpResponse:
    orders = [
        (order, format_fen(order.total_fen)) for order in SandboxPaymentOrder.objects.all()[:50]
    ]
    return render(request, "sandbox/cashier_list.html", {"orders": orders})


@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest, public_id: str) -> HttpResponse:
    order = get_object_or_404(SandboxPaymentOrder, public_id=public_id)
    error = ""
    if request.method == "POST":
        outcome = request.POST.get("outcome", "")
        try:
            order_pay_outcome(order_id=order.id, outcome=outcome)
        except SimError as exc:
            error = exc.message
        else:
            return redirect("sandbox:cashier", public_id=public_id)
    elif not order.visible:
        # Scanning a precreated Alipay QR code is what makes the trade exist.
        SandboxPaymentOrder.objects.filter(id=order.id).update(visible=True)
    order.refresh_from_db()
    notifies = SandboxNotifyDelivery.objects.filter(order=order).order_by("id")
    return render(
        request,
        "sandbox/cashier.html",
        {
            "order": order,
            "amount": format_fen(order.total_fen),
            "outcomes": OUTCOMES,
            "error": error,
            "notifies": notifies,
        },
        status=400 if error else 200,
    )


def _json(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SimError(400, "INVALID_JSON", "body must be a JSON object")
    return data


@csrf_exempt
@require_POST
def control_knobs(request: HttpRequest) -> JsonResponse:
    """POST {"out_trade_no"?: …, "out_refund_no"?: …, "<knob>": value, …}; {"reset": true}."""
    try:
        data = _json(request)
        if data.pop("reset", False):
            knobs_reset()
        out_trade_no = str(data.pop("out_trade_no", ""))
        out_refund_no = str(data.pop("out_refund_no", ""))
        if data:
            knobs_set(out_trade_no=out_trade_no, out_refund_no=out_refund_no, **data)
    except (SimError, ValueError) as exc:
        return JsonResponse({"code": "invalid_knob", "message": str(exc)}, status=400)
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def control_refund_settle(request: HttpRequest, provider: str, out_refund_no: str) -> JsonResponse:
    """Finish a refund kept PROCESSING: {"status": "SUCCESS" | "ABNORMAL" | "CLOSED"}."""
    refund = get_object_or_404(SandboxPaymentRefund, provider=provider, out_refund_no=out_refund_no)
    try:
        status = str(_json(request).get("status", "SUCCESS"))
        if provider == Provider.WECHATPAY:
            from heatdesk.sandbox.wechatpay.services import refund_settle

            refund = refund_settle(refund_id=refund.id, status=status)
        else:
            from heatdesk.sandbox.alipay.services import refund_settle as alipay_settle

            refund = alipay_settle(refund_id=refund.id)
    except SimError as exc:
        return JsonResponse({"code": exc.code, "message": exc.message}, status=400)
    return JsonResponse({"out_refund_no": refund.out_refund_no, "status": refund.status})


@csrf_exempt
@require_POST
def control_deliver(request: HttpRequest) -> JsonResponse:
    """Deliver every due notify now (held ones too when {"release_held": true})."""
    try:
        data = _json(request)
    except SimError as exc:
        return JsonResponse({"code": exc.code, "message": exc.message}, status=400)
    if data.get("release_held"):
        courier.release_held()
    return JsonResponse({"attempted": courier.deliver_due()})
