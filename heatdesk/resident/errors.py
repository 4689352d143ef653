"""Showing the services' refusals on forms, in the visitor's language."""

from django import forms
from django.conf import settings
from django.utils.translation import get_language, gettext, gettext_noop

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
    # billing: 报停/复供
    gettext_noop("请选择报停或复供。"),
    gettext_noop("说明不能超过200字。"),
    gettext_noop("该户已有待审核的报停/复供申请，请等待审核结果。"),
    gettext_noop("该户已停供拆网，不能申请报停或复供。"),
    # bookings
    gettext_noop("该时段刚刚被约满，请选择其他时间。"),
    gettext_noop("该服务暂停预约。"),
    gettext_noop("该服务需选择已绑定的房屋。"),
    gettext_noop("请选择房屋。"),
    gettext_noop("该时间不提供此项服务，请从可预约时段中选择。"),
    gettext_noop("您已预约该时段，请勿重复预约。"),
    gettext_noop("该 Idempotency-Key 已用于另一个不同的预约请求。"),
    gettext_noop("预约状态刚刚发生变化，请刷新后重试。"),
    gettext_noop("新时间与原时间相同。"),
    gettext_noop("链接无效或已过期。"),
    gettext_noop("该房屋此项服务的有效预约已达上限，请先完成或取消已有预约。"),
    gettext_noop("未找到该预约。"),
    gettext_noop("未找到该服务项目。"),
    # payments
    gettext_noop("未找到该账单。"),
    gettext_noop("该房屋当前没有需要缴纳的费用。"),
    gettext_noop("支付订单已过期，请重新下单。"),
    gettext_noop("支付平台拒绝了该订单，请稍后重新下单。"),
)

# Refusals whose message carries numbers or names (dates, amounts, statuses): Chinese pages show
# the service's own message; other languages get this fixed text for the code instead.
CODED_MESSAGES = {
    "apply_deadline_passed": gettext_noop("已过本采暖季报停/复供的申请截止日期。"),
    "arrears_outstanding": gettext_noop("该户有往年欠费未缴清，请先缴清后再办理报停或复供。"),
    "heating_status_mismatch": gettext_noop("该户当前的供热状态不能办理这项申请。"),
    "season_closed": gettext_noop("该采暖季已结束。"),
    "booking_too_soon": gettext_noop("离开始时间太近，请选择更晚的时段。"),
    "booking_too_far": gettext_noop("超出可预约的天数，请选择更早的日期。"),
    "cancel_deadline_passed": gettext_noop("已过取消截止时间，如需取消请联系客服。"),
    "reschedule_deadline_passed": gettext_noop("已过改约截止时间，如需改约请联系客服。"),
    "booking_not_cancellable": gettext_noop("该预约当前的状态不能取消。"),
    "booking_not_reschedulable": gettext_noop("该预约当前的状态不能改约。"),
    "bill_not_payable": gettext_noop("该账单当前不能缴费。"),
    "nothing_to_pay": gettext_noop("该账单无需缴费。"),
    "payment_order_not_open": gettext_noop("该支付订单已结束，不能继续支付。"),
    "validation_error": gettext_noop("请检查填写的内容。"),
}


def _chinese() -> bool:
    return (get_language() or "").startswith("zh")


def _translated(message: str, code: str) -> str:
    """The message in the active language; a message with numbers in it that the catalogue
    cannot know falls back to its code's fixed text outside Chinese."""
    translated = gettext(message)
    if translated != message or _chinese() or code not in CODED_MESSAGES:
        return translated
    return gettext(CODED_MESSAGES[code])


def error_message(exc: ApplicationError) -> str:
    """The refusal's message for people; messages that carry numbers are rebuilt from the code."""
    if exc.code == "sms_too_soon" and isinstance(exc, RateLimited):
        return gettext("验证码已发送，请%(seconds)s秒后再试。") % {"seconds": exc.retry_after}
    if exc.code == "house_limit_reached":
        return gettext("每位用户最多绑定%(count)s户，请先解绑不用的房屋。") % {
            "count": settings.MAX_HOUSES_PER_RESIDENT
        }
    return _translated(exc.message, exc.code)


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
                form.add_error(target, _translated(message, exc.code))
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
