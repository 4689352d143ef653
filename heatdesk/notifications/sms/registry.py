"""Which provider sends SMS, from the SMS_PROVIDER setting."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from heatdesk.notifications.sms.base import SmsProvider

PROVIDERS = {
    "sandbox": "heatdesk.sandbox.sms.SandboxSmsProvider",
    "aliyun": "heatdesk.notifications.sms.aliyun.AliyunSmsProvider",
    "tencent": "heatdesk.notifications.sms.tencent.TencentSmsProvider",
}


def get_provider() -> SmsProvider:
    name = settings.SMS_PROVIDER
    if name == "sandbox" and not settings.SANDBOX:
        raise ImproperlyConfigured("the sandbox SMS provider needs HEATDESK_SANDBOX on")
    try:
        path = PROVIDERS[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"SMS_PROVIDER {name!r} is not one of {sorted(PROVIDERS)}"
        ) from None
    provider: SmsProvider = import_string(path)()
    return provider
