"""The public receipt check the QR code on a receipt points at. No login: whoever holds
the receipt may check it. It shows whether the receipt is genuine and still valid, the amount,
the time and a masked address — nothing else about the household."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from heatdesk.core import clock
from heatdesk.core.money import format_fen
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.receipts import address_masked, receipt_find

_STATUS_WORDS: dict[str, tuple[str, str, str]] = {
    PaymentOrder.Status.PAID: ("valid", "有效", "Valid"),
    PaymentOrder.Status.VOIDED: ("voided", "已作废", "Voided"),
}


def _answer(order: PaymentOrder) -> dict[str, Any]:
    state, chinese, english = _STATUS_WORDS.get(order.status, ("not_valid", "无效", "Not valid"))
    item = order.items.select_related("house__unit__building__community").first()
    paid_at = order.paid_at or order.created_at
    return {
        "genuine": True,
        "company": settings.HEATDESK_COMPANY_NAME,
        "receipt_no": order.receipt_no,
        "status": state,
        "status_label": chinese,
        "status_label_en": english,
        "amount_fen": order.paid_fen if order.paid_fen is not None else order.amount_fen,
        "paid_at": clock.to_local(paid_at).isoformat(),
        "address_masked": address_masked(item.house) if item else "",
    }


@require_GET
def receipt_verify(request: HttpRequest, receipt_no: str, token: str) -> HttpResponse:
    order = receipt_find(receipt_no=receipt_no, token=token)
    wants_json = request.GET.get("format") == "json"
    if order is None:
        if wants_json:
            return JsonResponse({"genuine": False}, status=404)
        return HttpResponse(
            "<!doctype html><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            "<title>收据验真</title><h1>未找到该收据</h1><p>Receipt not found.</p>"
            "<p>此收据不是本公司开具，或链接不完整。请向收费窗口核实。</p>",
            status=404,
        )
    answer = _answer(order)
    if wants_json:
        return JsonResponse(answer)
    return HttpResponse(
        format_html(
            "<!doctype html><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            "<title>收据验真 Receipt check</title>"
            "<h1>{company}</h1><p>收据号 Receipt No.: {no}</p>"
            "<p><strong>{label}</strong> {label_en}</p>"
            "<p>金额 Amount: {amount}</p><p>收费时间 Time: {at}</p><p>地址 Address: {address}</p>",
            company=answer["company"],
            no=answer["receipt_no"],
            label=answer["status_label"],
            label_en=answer["status_label_en"],
            amount=format_fen(answer["amount_fen"]),
            at=clock.format_local(order.paid_at or order.created_at),
            address=answer["address_masked"],
        )
    )
