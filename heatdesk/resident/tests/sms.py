"""Reading login codes the sandbox SMS provider 'delivered' (for tests)."""

import re

from heatdesk.sandbox.models import SandboxSms


def latest_code(phone: str) -> str:
    message = SandboxSms.objects.filter(phone=phone).first()
    assert message is not None, f"no SMS for {phone}"
    found = re.search(r"(\d{6})", message.text)
    assert found, message.text
    return found.group(1)
