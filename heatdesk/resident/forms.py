"""The resident pages' forms: they parse and check input; services decide the rest."""

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from heatdesk.estates.models import HouseBinding
from heatdesk.resident.labels import RELATION

OWNER_NAME = "owner_name"
PHONE_LAST4 = "phone_last4"


class LoginForm(forms.Form):
    """Phone, code and consent. Which of them are needed depends on the button pressed, so the
    view checks presence; the services check formats."""

    phone = forms.CharField(
        label=_("手机号"),
        max_length=20,
        required=False,
        widget=forms.TextInput(
            attrs={
                "inputmode": "tel",
                "autocomplete": "tel-national",
                "placeholder": _("请输入11位手机号"),
                "aria-required": "true",
            }
        ),
        error_messages={"max_length": _("请输入11位手机号码。")},
    )
    code = forms.CharField(
        label=_("验证码"),
        max_length=6,
        required=False,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "placeholder": _("6位数字"),
                "aria-required": "true",
            }
        ),
        error_messages={"max_length": _("验证码为6位数字。")},
    )
    agree = forms.BooleanField(required=False)
    privacy_version = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)


class ConsentForm(forms.Form):
    agree = forms.BooleanField(required=False)
    privacy_version = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)


class BindForm(forms.Form):
    account_no = forms.CharField(
        label=_("户号"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "placeholder": _("缴费通知单上的户号"),
                "autocapitalize": "characters",
            }
        ),
        error_messages={"required": _("请输入户号。"), "max_length": _("户号最多32个字符。")},
    )
    method = forms.ChoiceField(
        label=_("户主验证方式"),
        choices=[(OWNER_NAME, _("核对户主姓名")), (PHONE_LAST4, _("核对手机尾号"))],
        initial=OWNER_NAME,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("请选择户主验证方式。"),
            "invalid_choice": _("请选择户主验证方式。"),
        },
    )
    owner_name = forms.CharField(
        label=_("户主姓名"),
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": _("户主的完整姓名")}),
        error_messages={"max_length": _("姓名最多50个字。")},
    )
    phone_last4 = forms.CharField(
        label=_("手机后四位"),
        max_length=4,
        required=False,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "off",
                "placeholder": _("户主手机号的后四位"),
            }
        ),
        error_messages={"max_length": _("请输入4位数字。")},
    )
    relation = forms.ChoiceField(
        label=_("您与户主的关系"),
        choices=[(value, RELATION[value]) for value in HouseBinding.Relation.values],
        widget=forms.RadioSelect,
        error_messages={
            "required": _("请选择与户主的关系。"),
            "invalid_choice": _("请选择与户主的关系。"),
        },
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        method = data.get("method")
        if method == OWNER_NAME and not (data.get(OWNER_NAME) or "").strip():
            self.add_error(OWNER_NAME, _("请输入户主姓名。"))
        if method == PHONE_LAST4 and not re.fullmatch(r"\d{4}", data.get(PHONE_LAST4) or ""):
            self.add_error(PHONE_LAST4, _("请输入4位数字。"))
        return data

    def owner_field(self) -> str:
        """The field the chosen owner check is typed into (where its errors belong)."""
        chosen = self.data.get("method") if self.is_bound else None
        return PHONE_LAST4 if chosen == PHONE_LAST4 else OWNER_NAME


class HeatingChangeForm(forms.Form):
    """报停/复供: which, for which season, from when, and why. The billing service decides
    whether the house may apply (deadline, arrears, current status)."""

    kind = forms.ChoiceField(
        label=_("申请类型"),
        choices=[("stop", _("报停")), ("resume", _("复供"))],
        widget=forms.RadioSelect,
        error_messages={
            "required": _("请选择报停或复供。"),
            "invalid_choice": _("请选择报停或复供。"),
        },
    )
    season = forms.ChoiceField(
        label=_("采暖季"),
        error_messages={"required": _("请选择采暖季。"), "invalid_choice": _("请选择采暖季。")},
    )
    requested_from = forms.DateField(
        label=_("生效日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("请输入正确的日期，例如 2026-11-15。")},
    )
    note = forms.CharField(
        label=_("说明"),
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("选填，200字以内")}),
        error_messages={"max_length": _("说明不能超过200字。")},
    )

    def __init__(self, *args: Any, seasons: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["season"]
        if isinstance(field, forms.ChoiceField):
            field.choices = seasons


class SlotForm(forms.Form):
    """A slot picked from the free ones shown; the booking service re-checks it."""

    starts_at = forms.DateTimeField(
        input_formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M"],
        error_messages={"required": _("请选择时段。"), "invalid": _("请选择时段。")},
    )


class BookingConfirmForm(SlotForm):
    """Confirming a new booking. `key` is minted when the page is shown, so a double tap or a
    resubmitted page repeats the same request and the service returns the first booking."""

    key = forms.CharField(max_length=100, widget=forms.HiddenInput)
    house = forms.CharField(max_length=32, required=False, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("备注"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("选填，例如故障情况")}),
        error_messages={"max_length": _("备注不能超过500字。")},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("取消原因"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("选填")}),
        error_messages={"max_length": _("原因不能超过200字。")},
    )
