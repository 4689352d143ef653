"""The bills a payment settles, read under the house lock with their season, lines and
allocations, in three hand-written statements (prepared once per PostgreSQL connection).

Every settled payment runs them; through the ORM (`select_related` plus two `Prefetch`es)
Django spent several times longer compiling the three statements and building the prefetch than
PostgreSQL spent running them. The rows come back exactly as the ORM gives them: every column
of each model through its field's converters (`core.rows`), and the lines and allocations in
each bill's prefetch cache, where `bill_due_as_of` looks first.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model

from heatdesk.billing.models import Allocation, Bill, BillLine, HeatingSeason
from heatdesk.billing.selectors import OPEN
from heatdesk.core import rows

M = TypeVar("M", bound=Model)
_OPEN = sorted(str(status) for status in OPEN)


def _fields(model: type[Model]) -> list[Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if isinstance(f, Field)]


def _columns(model: type[Model]) -> str:
    table = model._meta.db_table
    return ", ".join(f"{table}.{f.column}" for f in _fields(model))


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


_BILL, _SEASON = Bill._meta.db_table, HeatingSeason._meta.db_table
_BILL_FIELDS = [*_fields(Bill), *_fields(HeatingSeason)]
# Table names come from the models; values are parameters.
_BILLS_SQL = (
    f"SELECT {_columns(Bill)}, {_columns(HeatingSeason)} FROM {_BILL}"  # noqa: S608
    f" JOIN {_SEASON} ON {_SEASON}.id = {_BILL}.season_id"
    f" WHERE {_BILL}.house_id = %s AND ({_BILL}.status IN ({_marks(len(_OPEN))}){{explicit}})"
    f" ORDER BY {_SEASON}.heating_start, {_BILL}.id"
)
_CHILDREN_SQL = "SELECT {columns} FROM {table} WHERE bill_id IN ({marks}) ORDER BY {order}"


def _instance(model: type[M], values: Sequence[Any]) -> M:
    return model.from_db(connection.alias, [f.attname for f in _fields(model)], list(values))


def _children(model: type[M], bill_ids: list[int], order: str, name: str) -> dict[int, list[M]]:
    sql = _CHILDREN_SQL.format(
        columns=_columns(model),
        table=model._meta.db_table,
        marks=_marks(len(bill_ids)),
        order=order,
    )
    found: dict[int, list[M]] = defaultdict(list)
    for values in rows.fetch(sql, bill_ids, _fields(model), name=f"{name}_{len(bill_ids)}"):
        child = _instance(model, values)
        found[child.bill_id].append(child)  # type: ignore[attr-defined]
    return found


def _cached(model: type[Model], bill_id: int, found: list[Any]) -> Any:
    """What `prefetch_related` leaves in a bill's cache: the bill's queryset, already run."""
    queryset = model._default_manager.filter(bill_id=bill_id)
    queryset._result_cache = found
    queryset._prefetch_done = True  # type: ignore[attr-defined]
    return queryset


def settle_bills_read(*, house_id: int, explicit_ids: Sequence[int]) -> dict[int, Bill]:
    """The house's open bills (oldest season first) and the explicitly chosen ones, with their
    season, lines and allocations: what `bill_due_as_of` needs, in three statements however
    many bills there are. The caller holds the house lock."""
    explicit = sorted(set(explicit_ids))
    sql = _BILLS_SQL.format(
        explicit=f" OR {_BILL}.id IN ({_marks(len(explicit))})" if explicit else ""
    )
    split = len(_fields(Bill))
    bills: dict[int, Bill] = {}
    for values in rows.fetch(
        sql,
        [house_id, *_OPEN, *explicit],
        _BILL_FIELDS,
        name=f"billing_settle_bills_{len(explicit)}",
    ):
        bill = _instance(Bill, values[:split])
        bill.season = _instance(HeatingSeason, values[split:])
        bills[bill.pk] = bill
    if not bills:
        return bills
    ids = list(bills)
    lines = _children(BillLine, ids, "id", "billing_settle_lines")
    allocations = _children(Allocation, ids, "bill_id, id", "billing_settle_allocations")
    for pk, bill in bills.items():
        bill._prefetched_objects_cache = {  # type: ignore[attr-defined]
            "lines": _cached(BillLine, pk, lines.get(pk, [])),
            "allocations": _cached(Allocation, pk, allocations.get(pk, [])),
        }
    return bills
