"""Reads of houses. A resident reaches a house only through an active binding."""

from django.db.models import QuerySet

from heatdesk.accounts.models import User
from heatdesk.core.errors import NotFound
from heatdesk.estates.models import House, HouseBinding


def bindings_for_resident(*, user: User) -> QuerySet[HouseBinding]:
    return (
        HouseBinding.objects.filter(user=user, ended_at=None)
        .select_related("house__unit__building__community")
        .order_by("created_at", "id")
    )


def house_get_for_resident(*, resident: User, house_id: str) -> House:
    """The house with this public id if `resident` has it bound; otherwise 404 (never 403, so
    nothing tells whether the house exists)."""
    house = (
        House.objects.select_related("unit__building__community")
        .filter(public_id=house_id, bindings__user=resident, bindings__ended_at=None)
        .first()
    )
    if house is None:
        raise NotFound("未找到该房屋。", code="house_not_found")
    return house
