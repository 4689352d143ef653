"""A resident's bound houses: list, read, bind, unbind, and what binding needs."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Status

from heatdesk.accounts.auth import BearerAuth, request_user, resident_ready, token_rows
from heatdesk.accounts.services import privacy_consent_current
from heatdesk.core.api import ErrorOut
from heatdesk.core.http import client_ip
from heatdesk.core.masking import mask_name
from heatdesk.estates import services
from heatdesk.estates.models import House, HouseBinding
from heatdesk.estates.schemas import BindIn, BindingRequirementsOut, HouseOut
from heatdesk.estates.selectors import (
    bindings_for_resident,
    house_get_for_resident,
    house_list_for_resident,
    house_list_read_by_token,
    house_list_rows,
)

router = Router(tags=["houses"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def _house_out(binding: HouseBinding) -> dict[str, object]:
    house = binding.house
    unit = house.unit
    building = unit.building
    return {
        "id": house.public_id,
        "account_no": house.account_no,
        "community": building.community.name,
        "building": building.name,
        "unit": unit.name,
        "room": house.room,
        "address": house.address,
        "building_area": house.building_area,
        "heated_area": house.heated_area,
        "usage_type": house.usage_type,
        "user_type": house.user_type,
        "heating_status": house.heating_status,
        "heating_status_label": house.get_heating_status_display(),
        "relation": binding.relation,
        "relation_label": binding.get_relation_display(),
        "owner_name_masked": mask_name(house.owner_name),
        "bound_at": binding.created_at.isoformat(),
    }


def _house_row_out(row: dict[str, Any]) -> dict[str, object]:
    """`_house_out` for a row of `house_list_for_resident` (a test holds the two equal)."""
    out = {key: value for key, value in row.items() if key != "owner_name"}
    out.update(
        address=f"{row['community']}{row['building']}{row['unit']}{row['room']}室",
        heating_status_label=str(House.HeatingStatus(row["heating_status"]).label),
        relation_label=str(HouseBinding.Relation(row["relation"]).label),
        owner_name_masked=mask_name(row["owner_name"]),
        bound_at=row["bound_at"].isoformat(),
    )
    return out


# The home screen's read: the house list goes to the database with the token check.
_houses_bearer = BearerAuth(read=house_list_read_by_token)


@router.get(
    "/houses",
    auth=_houses_bearer,
    response={200: list[HouseOut], **ERRORS},
    summary="My bound houses",
)
def houses(request: HttpRequest) -> list[dict[str, object]]:
    """Errors: `phone_verification_required`, `privacy_consent_required` (403)."""
    user = resident_ready(request)
    found = token_rows(request)
    listed = house_list_for_resident(user=user) if found is None else house_list_rows(found)
    return [_house_row_out(row) for row in listed]


@router.get(
    "/houses/binding-requirements",
    response={200: BindingRequirementsOut, **ERRORS},
    summary="What binding a house needs",
)
def binding_requirements(request: HttpRequest) -> dict[str, object]:
    user = request_user(request)
    return {
        "account_no_hint": "户号印在缴费通知单或以往收据上。",
        "owner_checks": [
            {"value": "owner_name", "label": "户主姓名"},
            {"value": "phone_last4", "label": "户主手机号后四位"},
        ],
        "relations": [
            {"value": v, "label": str(label)} for v, label in HouseBinding.Relation.choices
        ],
        "max_houses": settings.MAX_HOUSES_PER_RESIDENT,
        "bound_houses": HouseBinding.objects.filter(user=user, ended_at=None).count(),
        "phone_verified": user.has_verified_phone,
        "privacy_consent_required": not privacy_consent_current(user),
    }


# Literal paths come before /houses/{house_id}: Django tries the URL patterns in order, and
# "/houses/{house_id}" would otherwise take "/houses/bind" and answer its POST with a 405.
@router.post("/houses/bind", response={201: HouseOut, **ERRORS}, summary="Bind a house")
def bind(request: HttpRequest, payload: BindIn) -> Status[Any]:
    """Binds by 户号 plus the owner's name or the last four digits of the owner's phone.
    Errors: `owner_check_failed` (400, also for an unknown 户号), `bind_locked` (429),
    `house_limit_reached` (400), `validation_error` (422)."""
    user = resident_ready(request)
    binding = services.house_bind(
        user=user,
        account_no=payload.account_no,
        relation=payload.relation,
        owner_name=payload.owner_name,
        phone_last4=payload.phone_last4,
        ip=client_ip(request),
    )
    binding = bindings_for_resident(user=user).get(pk=binding.pk)
    return Status(201, _house_out(binding))


@router.get("/houses/{house_id}", response={200: HouseOut, **ERRORS}, summary="One bound house")
def house_detail(request: HttpRequest, house_id: str) -> dict[str, object]:
    """Errors: `house_not_found` (404) for a house that is not bound to the caller."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    binding = bindings_for_resident(user=user).get(house=house)
    return _house_out(binding)


@router.delete(
    "/houses/{house_id}/binding", response={204: None, **ERRORS}, summary="Unbind a house"
)
def unbind(request: HttpRequest, house_id: str) -> Status[Any]:
    """Errors: `house_not_found` (404)."""
    user = resident_ready(request)
    services.house_unbind(user=user, house_public_id=house_id, ip=client_ip(request))
    return Status(204, None)
