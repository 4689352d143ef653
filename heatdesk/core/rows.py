"""Hand-written SELECTs for the few hot reads where building the query costs more than running it.

The ORM spends several hundred microseconds compiling a join on every call; a request that only
needs a handful of columns can name them in plain SQL instead. Each column is declared by the
model field it comes from, so values come back exactly as the ORM would give them: decrypted
personal data, aware datetimes and Decimals on SQLite too.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model

Converter = Callable[[Any, Any, Any], Any]


def column(model: type[Model], name: str) -> Field[Any, Any]:
    """The field behind one selected column (`name` is the field's name, not its column)."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # noqa: S101 - a concrete column, never a relation's reverse
    return field


def _converters(fields: Sequence[Field[Any, Any]]) -> list[tuple[int, list[Converter], Any]]:
    found = []
    for i, field in enumerate(fields):
        expression = field.get_col(field.model._meta.db_table)
        funcs = connection.ops.get_db_converters(expression)
        funcs += field.get_db_converters(connection)  # type: ignore[attr-defined]
        if funcs:
            found.append((i, funcs, expression))
    return found


def fetch(sql: str, params: Sequence[Any], fields: Sequence[Field[Any, Any]]) -> list[list[Any]]:
    """Run `sql` (whose columns are `fields`, in order) and return its rows as converted lists."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return []
    converters = _converters(fields)
    out = []
    for row in rows:
        values = list(row)
        for i, funcs, expression in converters:
            for func in funcs:
                values[i] = func(values[i], expression, connection)
        out.append(values)
    return out
