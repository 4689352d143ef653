"""Reads of houses. A resident reaches a house only through an active binding."""

import functools
from typing import Any

from django.db import connection
from django.db.models import Field, QuerySet

from heatdesk.accounts.models import ApiToken, User
from heatdesk.core import rows
from heatdesk.core.errors import NotFound
from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit


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


# What a resident's house list shows, as (model, field) per column, in the order selected.
_LIST_COLUMNS: tuple[tuple[type[Any], str, str], ...] = (
    (House, "public_id", "h"),
    (House, "account_no", "h"),
    (Community, "name", "c"),
    (Building, "name", "bl"),
    (Unit, "name", "u"),
    (House, "room", "h"),
    (House, "building_area", "h"),
    (House, "heated_area", "h"),
    (House, "usage_type", "h"),
    (House, "user_type", "h"),
    (House, "heating_status", "h"),
    (HouseBinding, "relation", "b"),
    (House, "owner_name", "h"),
    (HouseBinding, "created_at", "b"),
)
HOUSE_LIST_KEYS = (
    "id",
    "account_no",
    "community",
    "building",
    "unit",
    "room",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "relation",
    "owner_name",
    "bound_at",
)


def house_list_for_resident(*, user: User) -> list[dict[str, Any]]:
    """The houses bound to `user`, oldest binding first, as plain rows (HOUSE_LIST_KEYS).

    The same rows as `bindings_for_resident` with its houses, in one hand-written query: this
    list is the resident app's home screen and its most frequent read.
    """
    sql, fields = _house_list_query(by_token=False)
    return house_list_rows(rows.fetch(sql, [user.pk], fields, name="hd_house_list"))


def house_list_read_by_token(digest: str) -> rows.Read:
    """`house_list_for_resident` for the user of the token with this digest, as a read that
    goes to the database along with the token check (`BearerAuth(read=...)`); its rows count
    only once that check has found the token valid."""
    sql, fields = _house_list_query(by_token=True)
    return rows.Read(sql, [digest], fields, name="hd_house_list_by_token")


def house_list_rows(found: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(HOUSE_LIST_KEYS, row, strict=True)) for row in found]


@functools.cache
def _house_list_query(*, by_token: bool) -> tuple[str, list[Field[Any, Any]]]:
    q = connection.ops.quote_name
    fields = [rows.column(model, name) for model, name, _ in _LIST_COLUMNS]
    columns = ", ".join(
        f"{alias}.{q(field.column)}"
        for (_, _, alias), field in zip(_LIST_COLUMNS, fields, strict=True)
    )
    table = {m: q(m._meta.db_table) for m in (HouseBinding, House, Unit, Building, Community)}
    user = (
        f"(SELECT t.{q('user_id')} FROM {q(ApiToken._meta.db_table)} t "  # noqa: S608 - names only
        f"WHERE t.{q('key_hash')} = %s)"
        if by_token
        else "%s"
    )
    sql = (
        f"SELECT {columns} FROM {table[HouseBinding]} b "  # noqa: S608 - names only
        f"INNER JOIN {table[House]} h ON h.{q('id')} = b.{q('house_id')} "
        f"INNER JOIN {table[Unit]} u ON u.{q('id')} = h.{q('unit_id')} "
        f"INNER JOIN {table[Building]} bl ON bl.{q('id')} = u.{q('building_id')} "
        f"INNER JOIN {table[Community]} c ON c.{q('id')} = bl.{q('community_id')} "
        f"WHERE b.{q('user_id')} = {user} AND b.{q('ended_at')} IS NULL "
        f"ORDER BY b.{q('created_at')}, b.{q('id')}"
    )
    return sql, fields
