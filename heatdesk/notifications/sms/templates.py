"""Our SMS templates: the text (for the sandbox inbox) and the provider template-code setting."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class SmsTemplate:
    name: str
    text: str
    provider_code_setting: str

    def render(self, params: dict[str, str]) -> str:
        return f"【{settings.SMS_SIGN_NAME}】" + self.text.format(**params)

    def provider_code(self) -> str:
        return str(getattr(settings, self.provider_code_setting, "") or self.name)


TEMPLATES = {
    t.name: t
    for t in [
        SmsTemplate(
            "login_code", "您的验证码为{code}，5分钟内有效，请勿泄露给他人。", "SMS_LOGIN_TEMPLATE"
        ),
        SmsTemplate(
            "bind_phone_code",
            "您正在绑定手机号，验证码为{code}，5分钟内有效。",
            "SMS_LOGIN_TEMPLATE",
        ),
        SmsTemplate(
            "booking_confirmed",
            "您已预约{service}，时间{time}，预约号{code}。查看、取消或改约：{link}",
            "SMS_BOOKING_CONFIRMED_TEMPLATE",
        ),
        SmsTemplate(
            "booking_received",
            "您的{service}预约（{time}）已提交，待工作人员审核，预约号{code}。详情：{link}",
            "SMS_BOOKING_RECEIVED_TEMPLATE",
        ),
        SmsTemplate(
            "booking_changed",
            "您的{service}预约已改至{time}，预约号{code}。详情：{link}",
            "SMS_BOOKING_CHANGED_TEMPLATE",
        ),
        SmsTemplate(
            "booking_cancelled",
            "您的{service}预约（{time}，预约号{code}）已取消。{reason}",
            "SMS_BOOKING_CANCELLED_TEMPLATE",
        ),
        SmsTemplate(
            "booking_reminder",
            "温馨提醒：您预约的{service}将于{time}开始，预约号{code}。取消或改约：{link}",
            "SMS_BOOKING_REMINDER_TEMPLATE",
        ),
    ]
}
