"""报停 / 复供: apply for a bound house and follow the applications' status."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from heatdesk.accounts.models import User
from heatdesk.billing.models import HeatingChange, HeatingSeason
from heatdesk.billing.selectors.account import heating_changes_of_house
from heatdesk.billing.services.heating_changes import heating_change_apply
from heatdesk.core.errors import ApplicationError
from heatdesk.estates.models import House
from heatdesk.resident import labels
from heatdesk.resident.access import resident_required
from heatdesk.resident.errors import add_service_error, describe_errors
from heatdesk.resident.forms import HeatingChangeForm
from heatdesk.resident.views.bills import house_of
from heatdesk.resident.views.pages import not_found

# Where the billing service files its refusals that name no field.
ERROR_FIELD = {"heating_status_mismatch": "kind", "house_disconnected": "kind"}


def _open_seasons() -> list[HeatingSeason]:
    return list(
        HeatingSeason.objects.filter(status=HeatingSeason.Status.OPEN).order_by("-heating_start")
    )


@require_http_methods(["GET", "POST"])
@resident_required
def heating_changes(request: HttpRequest, user: User, house_id: str) -> HttpResponse:
    house = house_of(user, house_id)
    if house is None:
        return not_found(request)
    seasons = {season.code: season for season in _open_seasons()}
    choices = [(code, code) for code in seasons]
    initial = {
        "kind": "resume" if house.heating_status == House.HeatingStatus.STOPPED else "stop",
        "season": next(iter(seasons), None),
    }
    if request.method == "POST":
        form = HeatingChangeForm(request.POST, seasons=choices)
        if form.is_valid():
            data = form.cleaned_data
            try:
                heating_change_apply(
                    resident=user,
                    house=house,
                    season=seasons[data["season"]],
                    kind=data["kind"],
                    requested_from=data["requested_from"],
                    note=data["note"],
                )
            except ApplicationError as exc:
                add_service_error(form, exc, field_for_code=ERROR_FIELD)
            else:
                messages.success(request, _("申请已提交"))
                return redirect("resident:heating", house_id=house.public_id)
    else:
        form = HeatingChangeForm(initial=initial, seasons=choices)
    describe_errors(form)
    applications = list(heating_changes_of_house(house=house))
    changes = [
        {
            "change": change,
            "kind_label": labels.label(labels.HEATING_CHANGE_KIND, change.kind),
            "status_label": labels.label(labels.HEATING_CHANGE_STATUS, change.status),
        }
        for change in applications
    ]
    context = {
        "house": house,
        "status_label": labels.label(labels.HEATING_STATUS, house.heating_status),
        "form": form,
        "seasons": list(seasons.values()),
        "changes": changes,
        # One pending application per house: the form waits until it is decided.
        "pending": any(c.status == HeatingChange.Status.PENDING for c in applications),
    }
    return render(request, "resident/heating.html", context)
