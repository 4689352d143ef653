"""Sign-in, sign-out, the current user and privacy consent."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Status

from heatdesk.accounts import services
from heatdesk.accounts.auth import bearer, request_user
from heatdesk.accounts.models import User
from heatdesk.accounts.schemas import (
    LoginOut,
    MeOut,
    PrivacyConsentIn,
    PrivacyPolicyOut,
    SmsCodeIn,
    SmsCodeOut,
    SmsLoginIn,
    WechatLoginIn,
    WechatPhoneIn,
)
from heatdesk.accounts.selectors import user_me
from heatdesk.accounts.wechat import jscode2session
from heatdesk.core.api import ErrorOut
from heatdesk.core.http import client_ip

router = Router(tags=["auth"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _login_out(user: User, token: str) -> dict[str, object]:
    return {
        "token": token,
        "expires_in": settings.API_TOKEN_TTL_HOURS * 3600,
        "user": user_me(user=user),
    }


@router.post(
    "/auth/sms-code", response={202: SmsCodeOut, **ERRORS}, auth=None, summary="Send an SMS code"
)
def sms_code(request: HttpRequest, payload: SmsCodeIn) -> Status[Any]:
    """Sends a 6-digit code valid for 5 minutes. The answer is the same whether or not the phone
    has an account. Errors: `validation_error` (422), `sms_too_soon`, `sms_daily_limited`,
    `sms_ip_limited` (429, with Retry-After)."""
    services.sms_code_request(phone=payload.phone, purpose=payload.purpose, ip=client_ip(request))
    return Status(202, {"sent": True, "retry_after": settings.SMS_CODE_INTERVAL_SECONDS})


@router.post(
    "/auth/login/sms",
    response={200: LoginOut, **ERRORS},
    auth=None,
    summary="Log in with an SMS code",
)
def login_sms(request: HttpRequest, payload: SmsLoginIn) -> dict[str, object]:
    """Creates the resident on first login. Errors: `sms_code_invalid` (400), `sms_locked` (429,
    after 5 wrong codes), `validation_error` (422), `account_disabled` (400)."""
    user, token = services.login_with_sms(phone=payload.phone, code=payload.code)
    return _login_out(user, token)


@router.post(
    "/auth/login/wechat",
    response={200: LoginOut, **ERRORS, 503: ErrorOut},
    auth=None,
    summary="Log in with a WeChat mini-program code",
)
def login_wechat(request: HttpRequest, payload: WechatLoginIn) -> dict[str, object]:
    """Exchanges the wx.login() code through jscode2session. A user without a verified phone
    (`user.phone_verified` false) must call `/auth/wechat/phone` before any house endpoint.
    Errors: `wechat_code_invalid` (400), `wechat_unavailable` (503)."""
    session = jscode2session(code=payload.code)
    user, token = services.wechat_login(code=payload.code, session=session)
    return _login_out(user, token)


@router.post(
    "/auth/wechat/phone",
    response={200: LoginOut, **ERRORS},
    auth=bearer,
    summary="Verify a phone for a WeChat login",
)
def wechat_phone(request: HttpRequest, payload: WechatPhoneIn) -> dict[str, object]:
    """Verifies the phone with an SMS code (purpose `bind_phone`). If the phone already belongs
    to a resident, the WeChat login joins that resident and a new token is returned; the old
    token stops working. Errors: `sms_code_invalid`, `sms_locked`, `validation_error`."""
    user = request_user(request)
    owner = services.wechat_bind_phone(user=user, phone=payload.phone, code=payload.code)
    if owner.pk == user.pk:
        token = request.api_token  # type: ignore[attr-defined]
    else:
        token = services.token_issue(user=owner, client="wechat")
    return _login_out(owner, token)


@router.post("/auth/logout", response={204: None, 401: ErrorOut}, auth=bearer, summary="Log out")
def logout(request: HttpRequest) -> Status[Any]:
    """Revokes the token used for this call."""
    services.token_revoke(raw=request.api_token)  # type: ignore[attr-defined]
    return Status(204, None)


@router.get("/me", response={200: MeOut, 401: ErrorOut}, auth=bearer, summary="Who am I")
def me(request: HttpRequest) -> dict[str, object]:
    return user_me(user=request_user(request))


@router.post(
    "/me/privacy-consent",
    response={200: MeOut, **ERRORS},
    auth=bearer,
    summary="Accept the privacy policy",
)
def privacy_consent(request: HttpRequest, payload: PrivacyConsentIn) -> dict[str, object]:
    """Only the current version (see `/privacy-policy`) can be accepted. Errors:
    `privacy_version_mismatch` (400)."""
    user = services.privacy_accept(
        user=request_user(request), version=payload.version, ip=client_ip(request)
    )
    return user_me(user=user)


@router.get(
    "/privacy-policy",
    response=PrivacyPolicyOut,
    auth=None,
    summary="The current privacy-policy version",
)
def privacy_policy(request: HttpRequest) -> dict[str, object]:
    return {
        "version": settings.PRIVACY_POLICY_VERSION,
        "url": request.build_absolute_uri(reverse("privacy-policy")),
    }
