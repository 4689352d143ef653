"""Back office for reconciliation (对账): reports with their items, and the items themselves.

Read-only: reports and items are written only by `reconcile_day`. Finance closes an item with a
note through the same service the staff API uses (`reconciliation_item_resolve`, audited).

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
from heatdesk.payments.admin_orders import RECONCILE, _ReadOnly
from heatdesk.payments.models import ReconciliationItem, ReconciliationReport
from heatdesk.payments.services.reconciliation_review import reconciliation_item_resolve

ITEM_FIELDS = (
    "kind",
    "state",
    "out_trade_no",
    "out_refund_no",
    "provider_fen",
    "local_fen",
    "detail",
    "note",
    "resolved_by",
    "resolved_at",
)


def _yuan(fen: int | None) -> str:
    return "-" if fen is None else format_fen(fen)


class _ReconcileOnly:
    """Reports and items are for finance: the `payments.reconcile` permission, not just staff."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(RECONCILE)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE)

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE)


class ReconciliationItemInline(admin.TabularInline):
    model = ReconciliationItem
    extra = 0
    can_delete = False
    fields = ITEM_FIELDS
    readonly_fields = ITEM_FIELDS
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(_ReconcileOnly, _ReadOnly):
    list_display = ("bill_date", "provider", "status", "open_items", "attempts", "fetched_at")
    list_filter = ("provider", "status")
    date_hierarchy = "bill_date"
    inlines = [ReconciliationItemInline]

    @admin.display(description="待处理差异 Open items")
    def open_items(self, obj: ReconciliationReport) -> int:
        return obj.items.filter(state=ReconciliationItem.State.OPEN).count()


@admin.register(ReconciliationItem)
class ReconciliationItemAdmin(_ReconcileOnly, _ReadOnly):
    list_display = (
        "report",
        "kind",
        "state",
        "out_trade_no",
        "out_refund_no",
        "provider_yuan",
        "local_yuan",
        "resolved_at",
    )
    list_filter = ("kind", "state", "report__provider", "report__bill_date")
    search_fields = ("out_trade_no", "out_refund_no", "transaction_id")
    list_select_related = ("report",)
    actions = ["resolve_selected"]

    @admin.display(description="渠道金额 Provider")
    def provider_yuan(self, obj: ReconciliationItem) -> str:
        return _yuan(obj.provider_fen)

    @admin.display(description="本地金额 Local")
    def local_yuan(self, obj: ReconciliationItem) -> str:
        return _yuan(obj.local_fen)

    @admin.action(description="处理差异（填写说明） Resolve with a note", permissions=["reconcile"])
    def resolve_selected(
        self, request: HttpRequest, queryset: QuerySet[ReconciliationItem]
    ) -> TemplateResponse | None:
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "payments/admin/item_resolve.html",
                {**self.admin_site.each_context(request), "items": list(queryset)},
            )
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - the admin site admits only signed-in staff
        done = 0
        for item in queryset:
            try:
                reconciliation_item_resolve(item=item, by=user, note=request.POST.get("note", ""))
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{item.pk}：{exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"已处理 {done} 条差异。", level=messages.SUCCESS)
        return None
