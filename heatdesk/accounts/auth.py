"""API authentication (bearer tokens) and the guards resident endpoints share."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from heatdesk.accounts.models import User
from heatdesk.accounts.services import privacy_consent_current, token_authenticate
from heatdesk.core.errors import PermissionDenied


class BearerAuth(HttpBearer):
    openapi_description = "`Authorization: Bearer <token>` from a login endpoint."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = token_authenticate(raw=token)
        if user is None:
            return None
        request.user = user
        request.api_token = token  # type: ignore[attr-defined]
        return user


bearer = BearerAuth()


def request_user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)  # noqa: S101 - guaranteed by the router's auth
    return user


def resident_ready(request: HttpRequest) -> User:
    """The caller, once they have a verified phone and accepted the current privacy policy."""
    user = request_user(request)
    if not user.has_verified_phone:
        raise PermissionDenied("请先验证手机号。", code="phone_verification_required")
    if not privacy_consent_current(user):
        raise PermissionDenied("请先阅读并同意隐私政策。", code="privacy_consent_required")
    return user
