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
    ]
}
