"""The staff console's landing page (more pages arrive with their domains)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from heatdesk.accounts.roles import ROLE_LABELS, STAFF_ROLES


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    roles = [
        ROLE_LABELS[g]
        for g in request.user.groups.values_list("name", flat=True)
        if g in STAFF_ROLES
    ]
    return render(request, "console/home.html", {"roles": roles})
