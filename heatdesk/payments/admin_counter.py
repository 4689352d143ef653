"""Back office for the counter: collectors' shifts with their payments, closing a shift against
the counted drawer, reprinting a receipt and voiding a payment as a supervisor. Every write goes
through `payments.services.counter*`; shifts and payments are never edited here.

Imported from `payments/admin.py` so the shift admin registers with the site.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen
from heatdesk.payments.counter_selectors import COUNTER_CHANNEL_ORDER, shift_summary
from heatdesk.payments.models import Channel, CounterShift, PaymentOrder, Provider
from heatdesk.payments.receipts import receipt_pdf
from heatdesk.payments.services.counter import counter_payment_void
from heatdesk.payments.services.counter_shifts import shift_close

TAKE = "payments.take_counter_payment"
SUPERVISE = "payments.void_counter_payment"
FORM_TEMPLATE = "admin/payments/counter_form.html"


class CloseShiftForm(forms.Form):
    cash = forms.IntegerField(label="现金实点（分） Cash counted (fen)", min_value=0, initial=0)
    pos = forms.IntegerField(label="刷卡实点（分） POS counted (fen)", min_value=0, initial=0)
    transfer = forms.IntegerField(
        label="转账实点（分） Transfers counted (fen)", min_value=0, initial=0
    )
    note = forms.CharField(label="差额说明 Note on any difference", required=False, max_length=300)


class VoidForm(forms.Form):
    reason = forms.CharField(label="作废原因 Reason", max_length=200)


class CounterPaymentInline(admin.TabularInline):
    model = PaymentOrder
    fk_name = "shift"
    fields = ("receipt_no", "channel", "amount_fen", "status", "paid_at", "actions_html")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "柜台缴费"
    verbose_name_plural = "本班次柜台缴费"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("payments.view_paymentorder")

    @admin.display(description="操作")
    def actions_html(self, order: PaymentOrder) -> str:
        receipt = reverse("admin:payments_countershift_receipt", args=[order.pk])
        links = format_html('<a href="{}" target="_blank">收据 PDF</a>', receipt)
        if order.status == PaymentOrder.Status.PAID:
            void = reverse("admin:payments_countershift_void", args=[order.pk])
            links += format_html(' · <a href="{}">作废</a>', void)
        return links


@admin.action(description="结班（填写实点金额） Close the shift", permissions=["view"])
def close_shift_action(
    model_admin: "CounterShiftAdmin", request: HttpRequest, queryset: QuerySet[CounterShift]
) -> HttpResponse | None:
    """Pick one open shift; the form that follows asks for the counted amounts."""
    shifts = list(queryset.filter(status=CounterShift.Status.OPEN)[:2])
    if len(shifts) != 1:
        model_admin.message_user(request, "请选择一个未结班的班次。", messages.ERROR)
        return None
    return HttpResponseRedirect(reverse("admin:payments_countershift_close", args=[shifts[0].pk]))


@admin.register(CounterShift)
class CounterShiftAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "collector",
        "status",
        "float_yuan",
        "opened_at",
        "closed_at",
        "difference_yuan",
    )
    list_filter = ("status",)
    list_select_related = ("collector",)
    search_fields = ("public_id", "collector__username")
    readonly_fields = (
        "public_id",
        "collector",
        "status",
        "opening_float_fen",
        "opened_at",
        "closed_at",
        "expected_now",
        "counted",
        "difference_fen",
        "note",
    )
    fields = readonly_fields
    inlines = (CounterPaymentInline,)
    actions = (close_shift_action,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # collectors open shifts through the counter API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="备用金")
    def float_yuan(self, shift: CounterShift) -> str:
        return format_fen(shift.opening_float_fen)

    @admin.display(description="差额")
    def difference_yuan(self, shift: CounterShift) -> str:
        return format_fen(shift.difference_fen) if shift.closed_at else "—"

    @admin.display(description="应收（按收费方式）")
    def expected_now(self, shift: CounterShift) -> str:
        summary = shift_summary(shift=shift)
        return "；".join(
            f"{Channel(c).label} {format_fen(summary.expected[c])}" for c in COUNTER_CHANNEL_ORDER
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/close/", wrap(self.close_view), name="payments_countershift_close"),
            path(
                "payment/<int:pk>/receipt.pdf",
                wrap(self.receipt_view),
                name="payments_countershift_receipt",
            ),
            path("payment/<int:pk>/void/", wrap(self.void_view), name="payments_countershift_void"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, *, title: str, form: forms.Form, intro: str) -> Any:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "intro": intro,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def close_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        shift = get_object_or_404(CounterShift.objects.select_related("collector"), pk=pk)
        user = request.user
        if shift.collector_id != user.pk and not user.has_perm(SUPERVISE):
            raise DjangoPermissionDenied
        summary = shift_summary(shift=shift)
        intro = "应收：" + "；".join(
            f"{Channel(c).label} {format_fen(summary.expected[c])}" for c in COUNTER_CHANNEL_ORDER
        )
        form = CloseShiftForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                closed = shift_close(
                    shift=shift,
                    counted={c: data[c] for c in COUNTER_CHANNEL_ORDER},
                    note=data["note"],
                    by=user,  # type: ignore[arg-type]
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"班次 {closed.public_id} 已结班，差额 {format_fen(closed.difference_fen)}。",
                )
                return HttpResponseRedirect(
                    reverse("admin:payments_countershift_change", args=[shift.pk])
                )
        return self._page(
            request, title=f"结班 {shift.public_id}（{shift.collector}）", form=form, intro=intro
        )

    def receipt_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("payments.view_paymentorder"):
            raise DjangoPermissionDenied
        order = get_object_or_404(PaymentOrder, pk=pk, provider=Provider.COUNTER)
        response = HttpResponse(receipt_pdf(order=order), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="receipt-{order.receipt_no}.pdf"'
        return response

    def void_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(SUPERVISE):
            raise DjangoPermissionDenied
        order = get_object_or_404(PaymentOrder, pk=pk, provider=Provider.COUNTER)
        form = VoidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                counter_payment_void(
                    order=order,
                    supervisor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"收据 {order.receipt_no} 已作废。")
                return HttpResponseRedirect(
                    reverse("admin:payments_countershift_change", args=[order.shift_id])
                )
        intro = (
            f"收据 {order.receipt_no}，{order.get_channel_display()} {format_fen(order.amount_fen)}"
        )
        return self._page(request, title="作废柜台缴费", form=form, intro=intro)
