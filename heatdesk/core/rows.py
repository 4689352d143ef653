"""Hand-written SELECTs for the few hot reads where building the query costs more than running it.

The ORM spends several hundred microseconds compiling a join on every call; a request that only
needs a handful of columns can name them in plain SQL instead. Each column is declared by the
model field it comes from, so values come back exactly as the ORM would give them: decrypted
personal data, aware datetimes and Decimals on SQLite too.
"""

import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model

Converter = Callable[[Any, Any, Any], Any]


def column(model: type[Model], name: str) -> Field[Any, Any]:
    """The field behind one selected column (`name` is the field's name, not its column)."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # noqa: S101 - a concrete column, never a relation's reverse
    return field


_ConverterList = list[tuple[int, list[Converter], Any]]
# Per database alias and column list: working them out took longer than a prepared query runs.
_converter_cache: dict[tuple[str, tuple[Field[Any, Any], ...]], _ConverterList] = {}


def _converters(fields: Sequence[Field[Any, Any]]) -> _ConverterList:
    key = (connection.alias, tuple(fields))
    found = _converter_cache.get(key)
    if found is None:
        found = _converter_cache[key] = _converters_for(fields)
    return found


def _converters_for(fields: Sequence[Field[Any, Any]]) -> _ConverterList:
    found = []
    for i, field in enumerate(fields):
        expression = field.get_col(field.model._meta.db_table)
        funcs = connection.ops.get_db_converters(expression)
        funcs += field.get_db_converters(connection)  # type: ignore[attr-defined]
        if funcs:
            found.append((i, funcs, expression))
    return found


# Names of the statements prepared on each open PostgreSQL connection (a prepared statement
# lives as long as its session, whatever becomes of the transaction that prepared it).
_prepared: "weakref.WeakKeyDictionary[Any, dict[str, bool]]" = weakref.WeakKeyDictionary()
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Read(NamedTuple):
    """One hand-written read: `sql` with `params`, whose columns are `fields` in order."""

    sql: str
    params: Sequence[Any]
    fields: Sequence[Field[Any, Any]]
    name: str = ""


def fetch(
    sql: str, params: Sequence[Any], fields: Sequence[Field[Any, Any]], *, name: str = ""
) -> list[list[Any]]:
    """Run `sql` (whose columns are `fields`, in order) and return its rows as converted lists.

    With a `name`, on PostgreSQL (unless DB_PREPARED_STATEMENTS is off), the statement is
    prepared once per connection and executed by name afterwards, so PostgreSQL plans it once
    instead of on every call; for a join, planning costs more than running it.
    """
    if name and not _NAME.match(name):
        raise ValueError(f"not a statement name: {name!r}")
    with connection.cursor() as cursor:
        if name and _prepares():
            _execute_prepared(cursor, name, sql, params)
        else:
            cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _converted(rows, fields)


def fetch_together(reads: Sequence[Read]) -> list[list[list[Any]]]:
    """The rows of each read, in order, as `fetch` gives them; in one round trip once every
    read is prepared on this PostgreSQL connection (each is prepared by its first `fetch`).

    For reads that do not depend on each other's answers, such as the token check and the one
    read a hot endpoint needs. Elsewhere (SQLite, statements not prepared) they run one by one.
    """
    if not reads or any(not read.name for read in reads):
        raise ValueError("fetch_together takes named reads only")
    known: dict[str, bool] = {}
    if _prepares():
        connection.ensure_connection()
        known = _prepared.get(connection.connection, {})
    if not all(known.get(read.name) for read in reads):
        return [fetch(read.sql, read.params, read.fields, name=read.name) for read in reads]
    statements: list[str] = []
    params: list[Any] = []
    for read in reads:
        statements.append(_execute_by_name(read.name, read.params))
        params.extend(read.params)
    answers = []
    with connection.cursor() as cursor:
        try:
            cursor.execute("; ".join(statements), params)
        except Exception:
            for read in reads:  # whatever became of them, find out before the next use
                known[read.name] = False
            raise
        for i, read in enumerate(reads):
            if i:
                cursor.nextset()
            answers.append(_converted(cursor.fetchall(), read.fields))
    return answers


def _converted(rows: Sequence[Sequence[Any]], fields: Sequence[Field[Any, Any]]) -> list[list[Any]]:
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


def _prepares() -> bool:
    # With server-side binding, psycopg prepares statements itself (prepare_threshold).
    return (
        connection.vendor == "postgresql"
        and settings.DB_PREPARED_STATEMENTS
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    )


def _execute_prepared(cursor: Any, name: str, sql: str, params: Sequence[Any]) -> None:
    # Per connection: name -> True once prepared, False when a failed call left it unknown.
    known = _prepared.setdefault(connection.connection, {})
    arguments = _execute_by_name(name, params)
    if known.get(name) is False:
        # An earlier call failed after PREPARE may have run (PREPARE outlives a rollback).
        cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
        known[name] = cursor.fetchone() is not None
    if known.get(name):
        cursor.execute(arguments, params)
        return
    numbered = iter(range(1, len(params) + 1))
    body = re.sub(r"%s", lambda _: f"${next(numbered)}", sql)
    # One round trip: prepare, then execute; the rows are those of the second statement.
    known[name] = False
    cursor.execute(f"PREPARE {name} AS {body}; {arguments}", params)
    cursor.nextset()
    known[name] = True


def _execute_by_name(name: str, params: Sequence[Any]) -> str:
    return f"EXECUTE {name}({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}"
