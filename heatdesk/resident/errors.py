"""Showing the services' refusals on forms, in the visitor's language."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from heatdesk.core.errors import ApplicationError, RateLimited

# The messages domain services raise (Chinese, their msgids), catalogued here so that
# makemessages keeps their English translations and pages can show them in either language.
SERVICE_MESSAGES = (
    gettext_noop("手机号格式不正确。"),
    gettext_noop("请输入11位手机号码。"),
    gettext_noop("请求过于频繁，请稍后再试。"),
    gettext_noop("今日验证码次数已用完，请明天再试。"),
    gettext_noop("错误次数过多，请稍后再试。"),
    gettext_noop("验证码为6位数字。"),
    gettext_noop("验证码错误或已过期。"),
    gettext_noop("账户已停用，请联系客服。"),
    gettext_noop("隐私政策已更新，请阅读最新版本后再同意。"),
    gettext_noop("请检查填写的内容。"),
    gettext_noop("请输入户号。"),
    gettext_noop("请选择与户主的关系。"),
    gettext_noop("请填写户主姓名或户主手机号后四位。"),
    gettext_noop("请输入4位数字。"),
    gettext_noop("验证失败次数过多，请一小时后再试或联系客服。"),
    gettext_noop("户号与户主信息不匹配，请核对后重试。"),
    gettext_noop("未找到该房屋。"),
)


def error_message(exc: ApplicationError) -> str:
    """The refusal's message for people; messages that carry numbers are rebuilt from the code."""
    if exc.code == "sms_too_soon" and isinstance(exc, RateLimited):
        return gettext("验证码已发送，请%(seconds)s秒后再试。") % {"seconds": exc.retry_after}
    if exc.code == "house_limit_reached":
        return gettext("每位用户最多绑定%(count)s户，请先解绑不用的房屋。") % {
            "count": settings.MAX_HOUSES_PER_RESIDENT
        }
    return gettext(exc.message)


def add_service_error(
    form: forms.Form,
    exc: ApplicationError,
    *,
    rename: dict[str, str] | None = None,
    field_for_code: dict[str, str] | None = None,
) -> None:
    """Put a service's refusal on the form: its per-field messages on those fields (renamed where
    the form calls a field differently), else the whole message on the field its code concerns,
    else on the form. The form must have been validated already."""
    rename = rename or {}
    placed = False
    for name, messages in exc.fields.items():
        target = rename.get(name, name)
        if target in form.fields:
            for message in messages:
                form.add_error(target, gettext(message))
            placed = True
    if placed:
        return
    about = (field_for_code or {}).get(exc.code)
    form.add_error(about if about in form.fields else None, error_message(exc))


def describe_errors(form: forms.Form) -> None:
    """Point each invalid input at its error text, for screen readers."""
    for name in form.errors:
        if name in form.fields:
            field = form.fields[name]
            field.widget.attrs["aria-invalid"] = "true"
            field.widget.attrs["aria-describedby"] = f"{form[name].auto_id}-error"
