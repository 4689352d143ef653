"""Sandbox simulators' state changes."""

import base64
import datetime as dt
import hashlib
import os

from django.db import transaction

from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError
from heatdesk.core.ids import new_public_id
from heatdesk.sandbox.models import SandboxWechatCode

WECHAT_CODE_TTL = dt.timedelta(minutes=5)


def wechat_code_issue(*, appid: str, user_key: str) -> SandboxWechatCode:
    """What wx.login() gives a mini-program: a one-time code for a stable per-app openid."""
    digest = hashlib.sha256(f"{appid}:{user_key}".encode()).digest()
    openid = "o" + base64.urlsafe_b64encode(digest).decode()[:27]
    return SandboxWechatCode.objects.create(
        code=new_public_id(length=32),
        appid=appid,
        openid=openid,
        session_key=base64.b64encode(os.urandom(16)).decode(),
    )


def wechat_code_exchange(*, appid: str, code: str) -> SandboxWechatCode:
    """jscode2session: a code works once, within five minutes, for the app it was issued to.

    Errors as WeChat gives them: 40163 for a code already used, 40029 for one that is unknown
    or expired."""
    with transaction.atomic():
        found = SandboxWechatCode.objects.select_for_update().filter(code=code, appid=appid).first()
        if found is not None and found.used_at is not None:
            raise ApplicationError("code been used", code="40163")
        if found is None or clock.now() - found.created_at > WECHAT_CODE_TTL:
            raise ApplicationError("invalid code", code="40029")
        found.used_at = clock.now()
        found.save(update_fields=["used_at"])
    return found
