"""Pages without a form: the privacy policy and the resident-styled 'not found'."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "resident/privacy.html", {"version": settings.PRIVACY_POLICY_VERSION})


def not_found(request: HttpRequest, *, link: bool = False) -> HttpResponse:
    """The same answer whether the house does not exist or belongs to someone else; `link`
    for a self-service link that is forged, mistyped or expired."""
    return render(request, "resident/not_found.html", {"link": link}, status=404)
