"""The WeChat mini-program login exchange (auth.code2Session, GET /sns/jscode2session)."""

import http.client
import json
import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from heatdesk.core.errors import ApplicationError

logger = logging.getLogger("heatdesk.wechat")


@dataclass(frozen=True)
class WechatSession:
    appid: str
    openid: str
    session_key: str
    unionid: str = ""


class WechatUnavailable(ApplicationError):
    code = "wechat_unavailable"
    status = 503


def jscode2session(*, code: str, timeout: float = 5.0) -> WechatSession:
    """Exchange a wx.login() code for the user's openid at WECHAT_API_BASE."""
    if not settings.WECHAT_MINI_APPID or not settings.WECHAT_MINI_SECRET:
        raise ApplicationError("未配置微信小程序登录。", code="wechat_not_configured")
    query = urllib.parse.urlencode(
        {
            "appid": settings.WECHAT_MINI_APPID,
            "secret": settings.WECHAT_MINI_SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        }
    )
    url = f"{settings.WECHAT_API_BASE.rstrip('/')}/sns/jscode2session?{query}"
    if not url.startswith(("https://", "http://")):
        raise ApplicationError("微信接口地址配置错误。", code="wechat_not_configured")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - checked above
            body = json.loads(response.read().decode("utf-8"))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # OSError covers URLError, refused and reset connections and timeouts; HTTPException a
        # dropped connection or an answer that is not HTTP. All mean "not available", never 500.
        logger.warning("jscode2session failed: %s", exc)
        raise WechatUnavailable("微信登录服务暂时不可用，请稍后再试。") from exc
    if not isinstance(body, dict):
        raise WechatUnavailable("微信登录服务返回了无法识别的内容。")
    if body.get("errcode"):
        # 40029 invalid code, 40163 code used, 45011 frequency limit, -1 busy.
        if body["errcode"] in (-1, 45011):
            raise WechatUnavailable("微信登录服务繁忙，请稍后再试。")
        raise ApplicationError("微信登录凭证无效或已使用，请重新登录。", code="wechat_code_invalid")
    openid = body.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WechatUnavailable("微信登录服务未返回用户标识。")
    return WechatSession(
        appid=settings.WECHAT_MINI_APPID,
        openid=openid,
        session_key=str(body.get("session_key", "")),
        unionid=str(body.get("unionid", "")),
    )
