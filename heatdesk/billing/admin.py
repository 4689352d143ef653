"""Back office for seasons, tariffs and bills. Every write goes through billing.services."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from heatdesk.billing import admin_accounts, admin_runs, admin_waivers, services
from heatdesk.billing.admin_accounts import AdjustmentForm, adjustment_fen
from heatdesk.billing.admin_runs import start_run_action
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, Tariff
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen


def _all_fields(model: Any) -> list[str]:
    return [field.name for field in model._meta.fields]


def _refused(exc: ApplicationError) -> PermissionDenied:
    return PermissionDenied(exc.message)


@admin.register(HeatingSeason)
class HeatingSeasonAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "heating_start",
        "heating_end",
        "payment_due_date",
        "late_fee_kind",
        "status",
    )
    list_filter = ("status",)
    readonly_fields = ("status", "opened_at", "closed_at", "created_at", "created_by")
    actions = ["open_selected", "close_selected", "start_run"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != HeatingSeason.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_open_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.open_close_season")

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.run_billing")

    @admin.action(description="为所选采暖季开账（先预览）", permissions=["run"])
    def start_run(self, request: HttpRequest, queryset: QuerySet[HeatingSeason]) -> None:
        start_run_action(self, request, queryset)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        data = {
            name: form.cleaned_data[name]
            for name in (form.changed_data if change else form.cleaned_data)
            if name in services.SEASON_FIELDS
        }
        try:
            if change:
                services.season_update(season=obj, by=request.user, **data)  # type: ignore[arg-type]
            else:
                obj.pk = services.season_create(by=request.user, **data).pk  # type: ignore[arg-type]
        except ApplicationError as exc:
            raise _refused(exc) from exc

    @admin.action(description="开启所选采暖季", permissions=["open_close"])
    def open_selected(self, request: HttpRequest, queryset: QuerySet[HeatingSeason]) -> None:
        self._move(request, queryset, services.season_open)

    @admin.action(description="结束所选采暖季", permissions=["open_close"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[HeatingSeason]) -> None:
        self._move(request, queryset, services.season_close)

    def _move(self, request: HttpRequest, queryset: QuerySet[HeatingSeason], move: Any) -> None:
        for season in queryset.order_by("pk"):
            try:
                move(season=season, by=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{season}：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{season}：已{season.get_status_display()}")


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = (
        "season",
        "usage_type",
        "user_type",
        "version",
        "pricing",
        "area_price",
        "in_use_since",
    )
    list_filter = ("season", "usage_type", "user_type", "pricing")
    actions = ["new_version"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = ["version", "in_use_since", "created_at", "created_by"]
        if obj is not None:
            fixed += ["season", "usage_type", "user_type"]
        return fixed

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.in_use_since is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        names = form.changed_data if change else form.cleaned_data
        data = {name: form.cleaned_data[name] for name in names if name in services.TARIFF_TERMS}
        try:
            if change:
                services.tariff_update(tariff=obj, by=request.user, **data)  # type: ignore[arg-type]
            else:
                created = services.tariff_create(
                    season=form.cleaned_data["season"],
                    usage_type=form.cleaned_data["usage_type"],
                    user_type=form.cleaned_data["user_type"],
                    by=request.user,  # type: ignore[arg-type]
                    **data,
                )
                obj.pk, obj.version = created.pk, created.version
        except ApplicationError as exc:
            raise _refused(exc) from exc

    @admin.action(description="以所选热价为基础创建新版本", permissions=["add"])
    def new_version(self, request: HttpRequest, queryset: QuerySet[Tariff]) -> None:
        for tariff in queryset.order_by("pk"):
            try:
                created = services.tariff_new_version(tariff=tariff, by=request.user)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{tariff}：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"已创建 {created}，请在其中修改。")


class BillLineInline(admin.TabularInline):
    model = BillLine
    extra = 0
    can_delete = False
    fields = ("kind", "explanation", "amount", "reason", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description="金额")
    def amount(self, line: BillLine) -> str:
        return format_fen(line.amount_fen)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):
    list_display = ("public_id", "house", "season", "status", "total", "paid", "issued_at")
    list_filter = ("season", "status")
    search_fields = ("public_id", "house__account_no")
    list_select_related = ("house__unit__building__community", "season")
    inlines = [BillLineInline]
    action_form = AdjustmentForm
    actions = ["adjust_selected", "request_waiver_selected"]

    @admin.display(description="应收合计", ordering="total_fen")
    def total(self, bill: Bill) -> str:
        return format_fen(bill.total_fen)

    @admin.display(description="已缴", ordering="paid_fen")
    def paid(self, bill: Bill) -> str:
        return format_fen(bill.paid_fen)

    def has_adjust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.adjust_bill")

    @admin.action(description="调整所选账单（填写金额和原因）", permissions=["adjust"])
    def adjust_selected(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        try:
            amount = adjustment_fen(request.POST.get("amount_yuan", ""))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        reason = request.POST.get("reason", "")
        for bill in queryset.order_by("pk"):
            try:
                services.bill_adjust(bill=bill, amount_fen=amount, reason=reason, by=request.user)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{bill.public_id}：{exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{bill.public_id}：已调整 {format_fen(amount)}")

    def has_waive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.request_late_fee_waiver")

    @admin.action(
        description="申请减免所选账单的滞纳金（填写金额和原因；金额不填为全部）",
        permissions=["waive"],
    )
    def request_waiver_selected(self, request: HttpRequest, queryset: QuerySet[Bill]) -> None:
        admin_waivers.request_waivers(self, request, queryset)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*_all_fields(Bill), "total"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Issued bills are documents: corrections are adjustment lines (billing.services).
        if obj is not None and obj.status != Bill.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The other billing admins register themselves on import.
__all__ = ["admin_accounts", "admin_runs", "admin_waivers"]
