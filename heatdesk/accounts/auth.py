"""API authentication (bearer tokens) and the guards resident endpoints share."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from heatdesk.accounts.models import User
from heatdesk.accounts.services import TokenRead, privacy_consent_current, token_authenticate_with
from heatdesk.core.errors import PermissionDenied


class BearerAuth(HttpBearer):
    """The token's user, checked in the database on every request.

    With a `read`, an endpoint's own read keyed by the token goes to the database in the same
    round trip as the check; its rows wait in `request.token_rows` (see `token_rows`).
    """

    openapi_description = "`Authorization: Bearer <token>` from a login endpoint."

    def __init__(self, *, read: TokenRead | None = None) -> None:
        super().__init__()
        self.read = read

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user, found = token_authenticate_with(raw=token, read=self.read)
        if user is None:
            return None
        request.user = user
        request.api_token = token  # type: ignore[attr-defined]
        if self.read is not None:
            request.token_rows = found  # type: ignore[attr-defined]
        return user


bearer = BearerAuth()


def token_rows(request: HttpRequest) -> list[list[Any]] | None:
    """The rows its `BearerAuth(read=...)` fetched along with the token, or None without one."""
    return getattr(request, "token_rows", None)


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
