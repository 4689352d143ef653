"""Back office for refunds: a read-only list, and approve / reject / sync / pay out at the
counter as actions that go through `payments.services.refunds` (the same rules as the API:
finance approves, never the requester; a collector pays a counter refund out of their open
shift). Refunds are never added, edited or deleted here.

Imported from `payments/admin.py` so the refund admin registers with the site.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from heatdesk.accounts.models import User
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen
from heatdesk.payments.models import Refund
from heatdesk.payments.services import refunds

APPROVE = "payments.approve_refund"
TAKE = "payments.take_counter_payment"


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the admin site admits only signed-in staff
    return user


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "out_refund_no",
        "order",
        "amount_yuan",
        "status_shown",
        "automatic",
        "requested_by",
        "decided_by",
        "requested_at",
        "needs_attention",
    )
    list_filter = ("status", "automatic", "needs_attention")
    search_fields = ("out_refund_no", "order__out_trade_no", "provider_refund_id")
    list_select_related = ("order", "requested_by", "decided_by")
    actions = ["approve_selected", "reject_selected", "sync_selected", "payout_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Refund._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="退款金额 Amount")
    def amount_yuan(self, obj: Refund) -> str:
        return format_fen(obj.amount_fen)

    @admin.display(description="状态 Status", ordering="status")
    def status_shown(self, obj: Refund) -> str:
        return obj.status_label()

    def _each(self, request: HttpRequest, queryset: QuerySet[Refund], act: Any, done: str) -> None:
        ok = 0
        for refund in queryset.select_related("order"):
            try:
                act(refund)
                ok += 1
            except ApplicationError as exc:
                self.message_user(
                    request, f"{refund.out_refund_no}：{exc.message}", level=messages.ERROR
                )
        if ok:
            self.message_user(request, f"{done} {ok} 笔。", level=messages.SUCCESS)

    @admin.action(description="审批通过并退款 Approve and refund", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        user = _staff(request)
        self._each(
            request,
            queryset,
            lambda r: refunds.refund_approve(refund=r, by=user),
            "已审批",
        )

    @admin.action(description="驳回 Reject", permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        user = _staff(request)
        note = f"后台驳回（{user.get_username()}）"
        self._each(
            request,
            queryset,
            lambda r: refunds.refund_reject(refund=r, by=user, note=note),
            "已驳回",
        )

    @admin.action(description="向支付平台查询 Sync with the provider", permissions=["approve"])
    def sync_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        self._each(request, queryset, refunds.refund_sync, "已查询")

    @admin.action(
        description="柜台付款（从我的当班班次）Pay out at the counter", permissions=["take"]
    )
    def payout_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        user = _staff(request)
        self._each(
            request,
            queryset,
            lambda r: refunds.refund_cash_payout(refund=r, collector=user),
            "已付款",
        )

    def has_take_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TAKE)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE)
