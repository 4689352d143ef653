"""Back office for accounts and their workflows: the ledger (read only), 报停/复供 decisions,
meter readings (import, settle). Every write goes through `billing.services`."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from heatdesk.billing.models import HeatingChange, HeatingSeason, LedgerEntry, MeterReading
from heatdesk.billing.services import heating_changes, meters
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen, yuan_to_fen
from heatdesk.estates import tabular


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "house", "kind", "amount", "explanation", "source_id")
    list_filter = ("kind",)
    search_fields = ("house__account_no", "source_id", "bill__public_id")
    list_select_related = ("house__unit__building__community",)

    @admin.display(description="金额", ordering="amount_fen")
    def amount(self, entry: LedgerEntry) -> str:
        return format_fen(entry.amount_fen)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in LedgerEntry._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DecisionForm(helpers.ActionForm):
    effective_from = forms.DateField(label="生效日（批准时，可不填）", required=False)
    reason = forms.CharField(label="驳回原因", required=False, max_length=200)


@admin.register(HeatingChange)
class HeatingChangeAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "house",
        "season",
        "kind",
        "status",
        "requested_from",
        "effective_from",
        "applied_at",
    )
    list_filter = ("status", "kind", "season")
    search_fields = ("public_id", "house__account_no")
    list_select_related = ("house__unit__building__community", "season")
    action_form = DecisionForm
    actions = ["approve_selected", "reject_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in HeatingChange._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # residents apply through the app

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.decide_heating_change")

    def _decide(self, request: HttpRequest, queryset: QuerySet[HeatingChange], act: Any) -> None:
        for change in queryset.order_by("applied_at", "pk"):
            try:
                act(change)
            except ApplicationError as exc:
                self.message_user(request, f"{change.public_id}：{exc.message}", messages.ERROR)
            else:
                change.refresh_from_db()
                self.message_user(request, f"{change.public_id}：{change.get_status_display()}")

    @admin.action(description="批准所选申请", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[HeatingChange]) -> None:
        try:
            effective = forms.DateField(required=False).clean(request.POST.get("effective_from"))
        except forms.ValidationError:
            self.message_user(request, "生效日格式应为 2027-01-15。", messages.ERROR)
            return
        self._decide(
            request,
            queryset,
            lambda change: heating_changes.heating_change_approve(
                change=change,
                by=request.user,  # type: ignore[arg-type]
                effective_from=effective,
            ),
        )

    @admin.action(description="驳回所选申请（须填原因）", permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[HeatingChange]) -> None:
        reason = request.POST.get("reason", "")
        self._decide(
            request,
            queryset,
            lambda change: heating_changes.heating_change_reject(
                change=change,
                by=request.user,  # type: ignore[arg-type]
                reason=reason,
            ),
        )


class MeterUploadForm(forms.Form):
    season = forms.ModelChoiceField(label="采暖季", queryset=HeatingSeason.objects.all())
    file = forms.FileField(label="读数文件", help_text="支持 .xlsx 与 .csv（UTF-8 或 GBK 编码）。")


@admin.register(MeterReading)
class MeterReadingAdmin(admin.ModelAdmin):
    list_display = ("house", "season", "quantity", "unit", "read_on", "import_ref", "settled_at")
    list_filter = ("season", "unit")
    search_fields = ("house__account_no", "meter_id", "import_ref")
    list_select_related = ("house__unit__building__community", "season")
    actions = ["settle_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in MeterReading._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # readings come from files (the import page)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_settle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.settle_metered")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_import": request.user.has_perm("billing.import_meter_readings")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="billing_meterreading_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("billing.import_meter_readings"):
            raise PermissionDenied
        form = MeterUploadForm(request.POST or None, request.FILES or None)
        errors: list[tuple[str, list[str]]] = []
        status = 200
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                tabular.check_size(upload.size or 0)
                result = meters.meter_readings_import(
                    season=form.cleaned_data["season"],
                    file_name=upload.name or "",
                    data=upload.read(),
                    by=request.user,  # type: ignore[arg-type]
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                errors = list(exc.fields.items())
                status = 422
            else:
                self.message_user(
                    request, f"已导入 {result.created} 条读数（批次 {result.import_ref}）。"
                )
                return HttpResponseRedirect(reverse("admin:billing_meterreading_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "导入热表读数",
            "form": form,
            "errors": errors,
            "headers": [header for header, _ in meters.COLUMNS.values()],
        }
        return TemplateResponse(
            request, "admin/billing/meterreading/import.html", context, status=status
        )

    @admin.action(description="按所选读数计量结算", permissions=["settle"])
    def settle_selected(self, request: HttpRequest, queryset: QuerySet[MeterReading]) -> None:
        from heatdesk.billing.selectors import bill_live_for

        for reading in queryset.select_related("house", "season").order_by("house_id"):
            bill = bill_live_for(house=reading.house, season=reading.season)
            try:
                if bill is None:
                    raise ApplicationError("该户本季没有账单。")
                meters.bill_settle_metered(bill=bill, by=request.user)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(
                    request, f"{reading.house.account_no}：{exc.message}", messages.ERROR
                )
            else:
                self.message_user(request, f"{reading.house.account_no}：已结算")


class AdjustmentForm(helpers.ActionForm):
    # Shared by the bill list's actions: an adjustment (negative lowers the bill) and a
    # late-fee waiver request (blank: all of the late fee that is waivable today).
    amount_yuan = forms.CharField(label="金额（元，调整时负数为减）", required=False, max_length=14)
    reason = forms.CharField(label="原因", required=False, max_length=200)


def adjustment_fen(raw: str) -> int:
    """The adjustment typed in yuan as fen; anything but an exact amount is refused."""
    try:
        return yuan_to_fen(Decimal((raw or "").strip()))
    except (InvalidOperation, ValueError):
        raise ApplicationError("请填写以元为单位的调整金额，最多两位小数。") from None
