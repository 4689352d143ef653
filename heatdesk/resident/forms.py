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
