"""Django admin for bookings. Configuration is edited here; bookings are read-only and change
state only through admin actions that call the services (so history, counters and SMS stay
right)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from heatdesk.bookings import services
from heatdesk.bookings.models import (
    Booking,
    BookingEvent,
    CalendarDay,
    DayException,
    HouseQuota,
    Resource,
    Service,
    Slot,
    WorkingHours,
)
from heatdesk.core.errors import ApplicationError


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0


class DayExceptionInline(admin.TabularInline):
    model = DayException
    extra = 0


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "capacity_per_slot", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    filter_horizontal = ("communities", "members")
    inlines = [WorkingHoursInline, DayExceptionInline]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "duration_minutes",
        "capacity_per_slot",
        "requires_approval",
        "is_active",
    )
    list_filter = ("kind", "is_active", "requires_approval")
    search_fields = ("code", "name")
    filter_horizontal = ("resources",)


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "kind", "name", "works_as_weekday")
    list_filter = ("kind",)
    date_hierarchy = "date"


@admin.register(DayException)
class DayExceptionAdmin(admin.ModelAdmin):
    list_display = ("resource", "date", "is_closed", "starts", "ends", "reason")
    list_filter = ("resource", "is_closed")
    date_hierarchy = "date"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ("resource", "service", "starts_at", "booked", "capacity")
    list_filter = ("resource", "service")
    date_hierarchy = "starts_at"


@admin.register(HouseQuota)
class HouseQuotaAdmin(ReadOnlyAdmin):
    list_display = ("house", "service", "active")


class BookingEventInline(admin.TabularInline):
    model = BookingEvent
    extra = 0
    can_delete = False
    fields = ("occurred_at", "kind", "from_status", "to_status", "actor_label", "reason", "data")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = ("code", "service", "resource", "starts_at", "status", "technician", "house")
    list_filter = ("status", "service", "resource")
    search_fields = ("code", "public_id", "house__account_no")
    date_hierarchy = "starts_at"
    list_select_related = ("service", "resource", "technician", "house")
    exclude = ("contact_name", "contact_phone", "idempotency_key", "request_fingerprint")
    inlines = [BookingEventInline]
    actions = ["approve_selected", "cancel_selected"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page is a read-only view; state changes go through the actions below.
        return False

    @admin.action(description="审核通过所选预约", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        done = 0
        for booking in queryset:
            try:
                services.booking_approve(booking=booking, actor=request.user)  # type: ignore[arg-type]
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{booking.code}：{exc.message}", messages.WARNING)
        self.message_user(request, f"已审核通过 {done} 个预约。")

    @admin.action(description="取消所选预约（原因：后台取消）", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Booking]) -> None:
        done = 0
        for booking in queryset:
            try:
                services.booking_cancel(
                    booking=booking,
                    actor=request.user,  # type: ignore[arg-type]
                    reason="后台取消",
                    by_staff=True,
                )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{booking.code}：{exc.message}", messages.WARNING)
        self.message_user(request, f"已取消 {done} 个预约。")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("bookings.approve_booking"))

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("bookings.cancel_any_booking"))
