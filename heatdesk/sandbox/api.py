"""Sandbox API (mounted only in sandbox mode): the SMS inbox and wx.login() codes."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from heatdesk.core.api import ErrorOut
from heatdesk.sandbox.models import SandboxSms
from heatdesk.sandbox.services import wechat_code_issue

router = Router(tags=["sandbox"], auth=None)


class SandboxSmsOut(Schema):
    phone: str
    text: str
    template: str
    created_at: dt.datetime


class WechatCodeIn(Schema):
    user_key: str = Field(
        ...,
        min_length=1,
        max_length=64,
        description="Stands for one WeChat user; the same key, the same openid",
    )


class WechatCodeOut(Schema):
    code: str
    openid: str


@router.get("/sms", response={200: list[SandboxSmsOut], 422: ErrorOut}, summary="Sandbox SMS inbox")
def sms_inbox(request: HttpRequest, phone: str = "", limit: int = 20) -> list[SandboxSms]:
    """The latest messages the sandbox 'sent', newest first, optionally for one phone."""
    limit = max(1, min(limit, 200))
    messages = SandboxSms.objects.all()
    if phone:
        messages = messages.filter(phone=phone)
    return list(messages[:limit])


@router.post(
    "/wechat/login-code",
    response={201: WechatCodeOut, 422: ErrorOut},
    summary="Simulate wx.login()",
)
def wechat_login_code(request: HttpRequest, payload: WechatCodeIn) -> Status[Any]:
    issued = wechat_code_issue(appid=settings.WECHAT_MINI_APPID, user_key=payload.user_key)
    return Status(201, {"code": issued.code, "openid": issued.openid})
