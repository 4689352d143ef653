"""Back office for estates: communities, buildings, units, houses, bindings, import and export.

Owner names and phone numbers never reach a page in clear: lists and read-only views show them
masked, and the edit form takes new values without showing the old ones.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from heatdesk.accounts.services import phone_hash
from heatdesk.core.errors import NotFound
from heatdesk.core.http import client_ip
from heatdesk.core.masking import mask_name, mask_phone
from heatdesk.estates import import_views
from heatdesk.estates.house_edits import house_save_by_staff
from heatdesk.estates.importing import owner_phone_clean
from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit
from heatdesk.estates.services import house_unbind


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "district", "address", "created_at")
    search_fields = ("code", "name")


@admin.register(Building)
class BuildingAdmin(admin.ModelAdmin):
    list_display = ("name", "community")
    list_filter = ("community",)
    list_select_related = ("community",)
    search_fields = ("name", "community__code", "community__name")
    autocomplete_fields = ("community",)


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ("name", "building")
    list_filter = ("building__community",)
    search_fields = ("name", "building__name", "building__community__name")
    autocomplete_fields = ("building",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Unit]:
        return super().get_queryset(request).select_related("building__community")


HOUSE_FIELDS = [
    "account_no",
    "unit",
    "room",
    "floor",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "meter_id",
]


class HouseAdminForm(forms.ModelForm):
    """Owner name and phone are write-only: blank keeps the stored value, a box clears it."""

    owner_name = forms.CharField(label="户主姓名", required=False, max_length=50)
    owner_phone = forms.CharField(label="户主电话", required=False, max_length=20)
    clear_owner_name = forms.BooleanField(label="清除户主姓名", required=False)
    clear_owner_phone = forms.BooleanField(label="清除户主电话", required=False)

    class Meta:
        model = House
        fields = [*HOUSE_FIELDS, "owner_name", "owner_phone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name, mask in (("owner_name", mask_name), ("owner_phone", mask_phone)):
            if name in self.fields:
                self.initial[name] = ""
                current = mask(getattr(self.instance, name)) or "（空）"
                self.fields[name].help_text = f"当前：{current}。留空表示不修改。"

    def clean_owner_phone(self) -> str:
        try:
            return owner_phone_clean(self.cleaned_data.get("owner_phone") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is not None:
            for name in ("owner_name", "owner_phone"):
                if cleaned.get(f"clear_{name}"):
                    cleaned[name] = ""
                elif not cleaned.get(name):
                    cleaned[name] = getattr(self.instance, name)
        return cleaned


@admin.register(House)
class HouseAdmin(admin.ModelAdmin):
    form = HouseAdminForm
    change_list_template = "admin/estates/house/change_list.html"
    list_display = (
        "account_no",
        "house_address",
        "building_area",
        "heated_area",
        "usage_type",
        "user_type",
        "heating_status",
        "owner_name_masked",
        "owner_phone_masked",
    )
    list_filter = ("unit__building__community", "usage_type", "heating_status", "user_type")
    list_select_related = ("unit__building__community",)
    # Names and phones are encrypted: search by 户号, or by a whole phone number (its hash).
    search_fields = ("account_no",)
    search_help_text = "按户号搜索，或输入完整的户主手机号。"
    autocomplete_fields = ("unit",)
    readonly_fields = ("public_id", "owner_name_masked", "owner_phone_masked", "updated_at")
    actions = None

    @admin.display(description="地址")
    def house_address(self, obj: House) -> str:
        return obj.address

    @admin.display(description="户主姓名")
    def owner_name_masked(self, obj: House) -> str:
        return mask_name(obj.owner_name)

    @admin.display(description="户主电话")
    def owner_phone_masked(self, obj: House) -> str:
        return mask_phone(obj.owner_phone)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return (*HOUSE_FIELDS, "owner_name", "owner_phone")
        if not self.has_change_permission(request, obj):
            return (*HOUSE_FIELDS, "owner_name_masked", "owner_phone_masked", "public_id")
        owner = ("owner_name", "clear_owner_name", "owner_phone", "clear_owner_phone")
        return (*HOUSE_FIELDS, *owner, "public_id", "updated_at")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[House], search_term: str
    ) -> tuple[QuerySet[House], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            phone = owner_phone_clean(search_term)
        except ValueError:
            phone = ""
        if phone:
            found = found | queryset.filter(owner_phone_hash=phone_hash(phone))
        return found, may_have_duplicates

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # bills and payments hang off houses: stop heating instead

    def save_model(self, request: HttpRequest, obj: House, form: Any, change: bool) -> None:
        house_save_by_staff(house=obj, by=request.user, ip=client_ip(request))  # type: ignore[arg-type]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        can_import = request.user.has_perm(import_views.PERMISSION)
        return super().changelist_view(
            request, {**(extra_context or {}), "can_import_houses": can_import}
        )

    def import_view(self, request: HttpRequest) -> HttpResponse:
        return import_views.import_page(request, model_admin=self)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        return import_views.export_download(request, model_admin=self)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="estates_house_import"),
            path("export/", wrap(self.export_view), name="estates_house_export"),
            *super().get_urls(),
        ]


class BindingStateFilter(admin.SimpleListFilter):
    title = "状态"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "有效"), ("ended", "已解除")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(ended_at=None)
        if self.value() == "ended":
            return queryset.exclude(ended_at=None)
        return queryset


class EndBindingsForm(forms.Form):
    reason = forms.CharField(label="解除原因", max_length=200)


@admin.register(HouseBinding)
class HouseBindingAdmin(admin.ModelAdmin):
    """Read-only: bindings are made by residents (or staff through the console) and ended here
    with the admin action, which writes the audit log through `house_unbind`."""

    list_display = (
        "account_no",
        "address",
        "resident",
        "relation",
        "created_at",
        "ended_at",
    )
    list_filter = (BindingStateFilter, "relation")
    list_select_related = ("house__unit__building__community", "user")
    search_fields = ("house__account_no",)
    search_help_text = "按户号搜索。"
    actions = ["end_bindings"]

    @admin.display(description="户号", ordering="house__account_no")
    def account_no(self, obj: HouseBinding) -> str:
        return obj.house.account_no

    @admin.display(description="地址")
    def address(self, obj: HouseBinding) -> str:
        return obj.house.address

    @admin.display(description="用户")
    def resident(self, obj: HouseBinding) -> str:
        user = obj.user
        return mask_phone(user.phone) if user.phone else str(user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_bindings_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("estates.manage_bindings")

    @admin.action(description="解除所选绑定", permissions=["manage_bindings"])
    def end_bindings(
        self, request: HttpRequest, queryset: QuerySet[HouseBinding]
    ) -> HttpResponse | None:
        active = list(
            queryset.filter(ended_at=None).select_related(
                "house__unit__building__community", "user"
            )
        )
        form = EndBindingsForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/estates/housebinding/end_bindings.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "解除绑定",
                    "bindings": active,
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                    "form": form,
                },
                status=400 if form.is_bound else 200,
            )
        ended = 0
        for binding in active:
            try:
                house_unbind(
                    user=binding.user,
                    house_public_id=binding.house.public_id,
                    by=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except NotFound:
                continue  # ended by someone else meanwhile
            ended += 1
        self.message_user(request, f"已解除 {ended} 个绑定。", messages.SUCCESS)
        return None
