"""Paying a bill: choose WeChat Pay or Alipay, go to the provider (in sandbox mode the
simulator's cashier), and follow the order to paid, failed or closed; payment records.

The payments services compute the amount, talk to the providers and settle; these pages only
ask them. The result page polls `order_status` (JSON) from resident.js, which asks the provider
now and then while the order is open, so a slow notify does not keep the payer waiting.
"""

import contextlib
import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heatdesk.accounts.models import User
from heatdesk.billing.selectors.account import bills_of_houses
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, NotFound
from heatdesk.payments import selectors
from heatdesk.payments.models import Channel, PaymentOrder
from heatdesk.payments.receipts import receipt_pdf
from heatdesk.payments.services.orders import order_create, order_prepare, pay_params
from heatdesk.payments.services.sync import order_confirm_if_due
from heatdesk.resident import labels
from heatdesk.resident.access import resident_required
from heatdesk.resident.errors import describe_errors, error_message
from heatdesk.resident.views.bills import bill_row, house_of
from heatdesk.resident.views.pages import not_found

# What a phone browser can pay with: WeChat Pay by its payment link (a QR code's content; in
# sandbox mode the simulator's cashier) and Alipay's mobile web cashier.
CHANNELS = [(Channel.WECHAT_NATIVE, _lazy("微信支付")), (Channel.ALIPAY_WAP, _lazy("支付宝"))]
# While the result page polls an open order, ask the provider at most this often.


class PayForm(forms.Form):
    channel = forms.ChoiceField(
        label=_lazy("支付方式"),
        choices=CHANNELS,
        widget=forms.RadioSelect,
        error_messages={
            "required": _lazy("请选择支付方式。"),
            "invalid_choice": _lazy("请选择支付方式。"),
        },
    )
    key = forms.CharField(max_length=100, widget=forms.HiddenInput)


def _order(user: User, order_id: str) -> PaymentOrder | None:
    try:
        return selectors.order_get_for_resident(resident=user, public_id=order_id)
    except NotFound:
        return None


@require_http_methods(["GET", "POST"])
@resident_required
def pay_bill(request: HttpRequest, user: User, house_id: str, bill_id: str) -> HttpResponse:
    """GET: the amount due today and the channels, with a fresh idempotency key; POST: open
    the order (a repeat with the same key, or a double tap, gets the same order), ask the
    provider for its pay parameters, then follow the order on its result page."""
    house = house_of(user, house_id)
    bill = (
        bills_of_houses(houses=[house]).filter(public_id=bill_id).first()
        if house is not None
        else None
    )
    if house is None or bill is None:
        return not_found(request)
    row = bill_row(bill, as_of=clock.local_today())
    if request.method == "POST":
        form = PayForm(request.POST)
        if form.is_valid():
            try:
                order = order_create(
                    payer=user,
                    channel=form.cleaned_data["channel"],
                    bills=[bill],
                    idempotency_key=form.cleaned_data["key"],
                )
                if order.status in PaymentOrder.OPEN:
                    order_prepare(order)
            except ApplicationError as exc:
                form.add_error(None, error_message(exc))
            else:
                return redirect("resident:pay_order", order_id=order.public_id)
    else:
        form = PayForm(initial={"channel": Channel.WECHAT_NATIVE, "key": uuid.uuid4().hex})
    describe_errors(form)
    return render(request, "resident/pay.html", {"house": house, "bill": row, "form": form})


def cashier_url(order: PaymentOrder) -> str:
    """Where the payer pays this order by WeChat Pay: its payment link; in sandbox mode the
    simulator's cashier page stands in for the payer's WeChat app. (An Alipay cashier URL is
    signed afresh each time, so the page gets it through `pay_order_prepare`.)"""
    if order.channel == Channel.ALIPAY_WAP or not order.prepay:
        return ""
    code_url = str(pay_params(order).get("code_url", ""))
    if settings.SANDBOX and code_url.startswith("weixin://wxpay/bizpayurl?pr="):
        return f"/sandbox/pay/sp_{code_url.rsplit('=', 1)[1]}/"
    return code_url


def _state(order: PaymentOrder) -> dict[str, Any]:
    return {
        "status": order.status,
        "status_label": labels.label(labels.ORDER_STATUS, order.status),
        "final": order.status not in PaymentOrder.OPEN,
        "paid_fen": order.paid_fen,
    }


def _items(order: PaymentOrder) -> list[dict[str, Any]]:
    return [
        {
            "account_no": item.house.account_no,
            "season": item.bill.season.code if item.bill else "",
            "amount_fen": item.amount_fen,
            "late_fee_fen": item.late_fee_fen,
        }
        for item in order.items.all()
    ]


@require_GET
@resident_required
def pay_order(request: HttpRequest, user: User, order_id: str) -> HttpResponse:
    order = _order(user, order_id)
    if order is None:
        return not_found(request)
    context = {
        "order": order,
        "state": _state(order),
        "channel_label": labels.label(labels.ORDER_CHANNEL, order.channel),
        "items": _items(order),
        "cashier_url": cashier_url(order) if order.status in PaymentOrder.OPEN else "",
        "alipay": order.channel == Channel.ALIPAY_WAP,
        "new_window": settings.SANDBOX,
    }
    return render(request, "resident/pay_order.html", context)


@require_POST
@resident_required
def pay_order_prepare(request: HttpRequest, user: User, order_id: str) -> HttpResponse:
    """Get an open order's pay parameters again (after a slow answer, or a freshly signed
    Alipay cashier URL, which this then opens)."""
    order = _order(user, order_id)
    if order is None:
        return not_found(request)
    params = None
    if order.status in PaymentOrder.OPEN:
        with contextlib.suppress(ApplicationError):
            params = order_prepare(order)  # a refusal: the order's page shows where it stands
    if order.channel == Channel.ALIPAY_WAP and params and params.get("pay_url"):
        return redirect(str(params["pay_url"]))
    return redirect("resident:pay_order", order_id=order.public_id)


@never_cache
@require_GET
@resident_required
def order_status(request: HttpRequest, user: User, order_id: str) -> HttpResponse:
    """The order's status for the result page's poll. While it is open and a few seconds old,
    ask the provider (at most every few seconds per order): a notify may be late."""
    order = _order(user, order_id)
    if order is None:
        return JsonResponse({"code": "payment_order_not_found"}, status=404)
    if order_confirm_if_due(order):
        order = _order(user, order_id) or order
    return JsonResponse(_state(order))


@require_GET
@resident_required
def alipay_return(request: HttpRequest, user: User) -> HttpResponse:
    """Alipay sends the payer's browser back here (ALIPAY_RETURN_URL) with the order number;
    the result page then asks the provider, never trusting these parameters."""
    out_trade_no = request.GET.get("out_trade_no", "")
    order = (
        selectors.orders_for_resident(resident=user).filter(out_trade_no=out_trade_no).first()
        if out_trade_no
        else None
    )
    if order is None:
        return redirect("resident:pay_records")
    return redirect("resident:pay_order", order_id=order.public_id)


@require_GET
@resident_required
def pay_records(request: HttpRequest, user: User) -> HttpResponse:
    rows = [
        {
            "order": order,
            "status_label": labels.label(labels.ORDER_STATUS, order.status),
            "channel_label": labels.label(labels.ORDER_CHANNEL, order.channel),
            "items": _items(order),
        }
        for order in selectors.orders_for_resident(resident=user)[:50]
    ]
    return render(request, "resident/pay_records.html", {"rows": rows})


@require_GET
@resident_required
def pay_receipt(request: HttpRequest, user: User, order_id: str) -> HttpResponse:
    """The printable receipt (PDF) of a paid order of a bound house, online or at the counter."""
    order = _order(user, order_id)
    if order is None or not order.receipt_no:
        return not_found(request)
    response = HttpResponse(receipt_pdf(order=order), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{order.receipt_no}.pdf"'
    return response
