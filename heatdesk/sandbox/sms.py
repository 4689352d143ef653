"""The sandbox SMS provider: messages land in the sandbox inbox instead of a phone."""

from heatdesk.core.ids import new_public_id
from heatdesk.notifications.sms.base import SmsMessage, SmsReceipt
from heatdesk.sandbox.models import SandboxSms


class SandboxSmsProvider:
    name = "sandbox"

    def send(self, message: SmsMessage) -> SmsReceipt:
        message_id = new_public_id("sbx")
        SandboxSms.objects.create(
            phone=message.phone,
            text=message.text,
            template=message.template,
            message_id=message_id,
        )
        return SmsReceipt(provider=self.name, message_id=message_id)
