"""Sandbox pages and the jscode2session simulator (mounted only in sandbox mode)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from heatdesk.core.errors import ApplicationError
from heatdesk.sandbox.models import SandboxSms
from heatdesk.sandbox.services import wechat_code_exchange


@require_GET
def sms_inbox(request: HttpRequest) -> HttpResponse:
    phone = request.GET.get("phone", "").strip()[:20]
    messages = SandboxSms.objects.all()
    if phone:
        messages = messages.filter(phone=phone)
    return render(request, "sandbox/sms_inbox.html", {"messages": messages[:100], "phone": phone})


@require_GET
def jscode2session(request: HttpRequest) -> JsonResponse:
    """Answers like WeChat's GET /sns/jscode2session, errors included (HTTP 200 + errcode)."""
    appid = request.GET.get("appid", "")
    secret = request.GET.get("secret", "")
    code = request.GET.get("js_code", "")
    if request.GET.get("grant_type") != "authorization_code" or not code:
        return JsonResponse({"errcode": 40097, "errmsg": "invalid args"})
    if appid != settings.WECHAT_MINI_APPID or secret != settings.WECHAT_MINI_SECRET:
        return JsonResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
    try:
        issued = wechat_code_exchange(appid=appid, code=code)
    except ApplicationError as exc:
        return JsonResponse({"errcode": int(exc.code), "errmsg": exc.message})
    return JsonResponse({"openid": issued.openid, "session_key": issued.session_key})
