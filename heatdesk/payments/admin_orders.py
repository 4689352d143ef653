"""Back office for online payments: orders with their items, the notifies providers sent, and
the alerts finance works through (resolved with a note via the reconciliation review service).
Everything is read-only here: money moves only through `payments.services`.

Imported from `payments/admin.py` so these admins register with the site.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from heatdesk.accounts.models import User
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen
from heatdesk.payments.models import PaymentAlert, PaymentOrder, PaymentOrderItem, ProviderNotify
from heatdesk.payments.services.sync import order_sync

RECONCILE = "payments.reconcile"


def _fields(model: Any) -> list[str]:
    return [field.name for field in model._meta.fields]


class _ReadOnly(admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return _fields(self.model)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderItemInline(admin.TabularInline):
    model = PaymentOrderItem
    extra = 0
    can_delete = False
    fields = ("house", "bill", "amount_fen", "late_fee_fen")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PaymentOrder)
class PaymentOrderAdmin(_ReadOnly):
    list_display = (
        "out_trade_no",
        "channel",
        "status",
        "amount_yuan",
        "excess_fen",
        "payer",
        "collector",
        "created_at",
        "paid_at",
        "needs_attention",
    )
    list_filter = ("status", "provider", "channel", "needs_attention")
    search_fields = ("out_trade_no", "transaction_id", "public_id", "receipt_no")
    list_select_related = ("payer", "collector")
    date_hierarchy = "created_at"
    inlines = [OrderItemInline]
    actions = ["sync_selected"]

    @admin.display(description="金额 Amount")
    def amount_yuan(self, obj: PaymentOrder) -> str:
        return format_fen(obj.amount_fen)

    @admin.action(description="向支付平台查询 Sync with the provider", permissions=["reconcile"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[PaymentOrder]) -> None:
        for order in queryset:
            synced = order_sync(order)
            self.message_user(request, f"{synced.out_trade_no}：{synced.get_status_display()}")

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE)


@admin.register(ProviderNotify)
class ProviderNotifyAdmin(_ReadOnly):
    list_display = ("provider", "event_id", "kind", "event_type", "out_trade_no", "outcome")
    list_filter = ("provider", "kind", "outcome")
    search_fields = ("event_id", "out_trade_no", "out_refund_no")
    date_hierarchy = "received_at"


@admin.register(PaymentAlert)
class PaymentAlertAdmin(_ReadOnly):
    list_display = ("kind", "provider", "out_trade_no", "message", "created_at", "resolved_at")
    list_filter = ("kind", "provider", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("out_trade_no", "message")
    actions = ["resolve_selected"]

    @admin.action(description="处理（填写说明） Resolve with a note", permissions=["reconcile"])
    def resolve_selected(
        self, request: HttpRequest, queryset: QuerySet[PaymentAlert]
    ) -> TemplateResponse | None:
        from heatdesk.payments.services.reconciliation_review import payment_alert_resolve

        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "payments/admin/alert_resolve.html",
                {**self.admin_site.each_context(request), "alerts": list(queryset)},
            )
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - the admin site admits only signed-in staff
        done = 0
        for alert in queryset:
            try:
                payment_alert_resolve(alert=alert, by=user, note=request.POST.get("note", ""))
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{alert.pk}：{exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"已处理 {done} 条告警。", level=messages.SUCCESS)
        return None

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE)
