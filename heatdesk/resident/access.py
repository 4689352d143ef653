"""Who may open resident pages: a signed-in resident with a verified phone and current consent."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from heatdesk.accounts.models import User
from heatdesk.accounts.services import privacy_consent_current

ResidentView = Callable[..., HttpResponse]


def resident_of(request: HttpRequest) -> User | None:
    """The signed-in resident, or None for visitors and staff (who have no verified phone)."""
    user = request.user
    if isinstance(user, User) and user.is_active and user.has_verified_phone:
        return user
    return None


def resident_required(view: ResidentView) -> Callable[..., HttpResponse]:
    """Send visitors to the SMS login, and residents without current consent to the consent page;
    the view gets the resident as its second argument."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = resident_of(request)
        if user is None:
            return redirect_to_login(request.get_full_path(), reverse("resident:login"))
        if not privacy_consent_current(user):
            return redirect_to_login(request.get_full_path(), reverse("resident:consent"))
        return view(request, user, *args, **kwargs)

    return wrapper
