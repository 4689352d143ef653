"""Back office for 滞纳金减免: request a waiver from the bill list, approve or reject requests
here. Every write goes through `billing.services.late_fee_waivers`."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest

from heatdesk.billing.admin_accounts import adjustment_fen
from heatdesk.billing.models import Bill, LateFeeWaiver
from heatdesk.billing.services import late_fee_waivers
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen


def request_waivers(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> None:
    """The bill list's action: ask to waive the typed amount (blank: all that is waivable
    today) of each selected bill's late fee, with the typed reason."""
    raw = (request.POST.get("amount_yuan") or "").strip()
    try:
        amount = adjustment_fen(raw) if raw else None
    except ApplicationError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return
    reason = request.POST.get("reason", "")
    today = clock.local_today()
    bills: QuerySet[Bill] = queryset
    for bill in bills.order_by("pk"):
        try:
            wanted = amount
            if wanted is None:
                wanted = late_fee_waivers.late_fee_waivable_fen(bill=bill, as_of=today) or 1
            waiver = late_fee_waivers.late_fee_waiver_request(
                bill=bill,
                amount_fen=wanted,
                reason=reason,
                by=request.user,  # type: ignore[arg-type]
            )
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{bill.public_id}：{exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                f"{bill.public_id}：已申请减免滞纳金 {format_fen(wanted)}（{waiver.public_id}）",
            )


class WaiverDecisionForm(helpers.ActionForm):
    note = forms.CharField(label="驳回意见", required=False, max_length=200)


@admin.register(LateFeeWaiver)
class LateFeeWaiverAdmin(admin.ModelAdmin):
    list_display = ("public_id", "bill", "amount", "status", "requested_by", "requested_at")
    list_filter = ("status",)
    search_fields = ("public_id", "bill__public_id", "bill__house__account_no")
    list_select_related = ("bill__house__unit__building__community", "bill__season", "requested_by")
    action_form = WaiverDecisionForm
    actions = ["approve_selected", "reject_selected"]

    @admin.display(description="减免金额", ordering="amount_fen")
    def amount(self, waiver: LateFeeWaiver) -> str:
        return format_fen(waiver.amount_fen)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in LateFeeWaiver._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requested from the bill list or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.approve_late_fee_waiver")

    def _decide(self, request: HttpRequest, queryset: QuerySet[LateFeeWaiver], act: Any) -> None:
        for waiver in queryset.order_by("requested_at", "pk"):
            try:
                act(waiver)
            except ApplicationError as exc:
                self.message_user(request, f"{waiver.public_id}：{exc.message}", messages.ERROR)
            else:
                waiver.refresh_from_db()
                self.message_user(request, f"{waiver.public_id}：{waiver.get_status_display()}")

    @admin.action(description="批准所选减免申请", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[LateFeeWaiver]) -> None:
        self._decide(
            request,
            queryset,
            lambda waiver: late_fee_waivers.late_fee_waiver_approve(
                waiver=waiver,
                by=request.user,  # type: ignore[arg-type]
            ),
        )

    @admin.action(description="驳回所选减免申请（须填意见）", permissions=["decide"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[LateFeeWaiver]) -> None:
        note = request.POST.get("note", "")
        self._decide(
            request,
            queryset,
            lambda waiver: late_fee_waivers.late_fee_waiver_reject(
                waiver=waiver,
                by=request.user,  # type: ignore[arg-type]
                note=note,
            ),
        )
