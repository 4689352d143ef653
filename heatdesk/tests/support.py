"""Helpers for tests that look under the ORM: raw column values, as the database holds them."""

from typing import Any

from django.db import connection, models


def raw_value(model: type[models.Model], field_name: str, pk: Any) -> Any:
    """The stored value of one column of one row, read with a cursor (no from_db_value)."""
    qn = connection.ops.quote_name
    meta = model._meta
    column = meta.get_field(field_name).column  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {qn(column)} FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} = %s",  # noqa: S608
            [pk],
        )
        row = cursor.fetchone()
    assert row is not None, f"no {meta.label} row with pk {pk}"
    return row[0]


def tables_containing(text: str, *, exclude: set[str] = frozenset()) -> list[str]:
    """`table.column` of every stored value in the database whose text contains `text`."""
    qn = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in exclude:
                continue
            columns = [
                c.name for c in connection.introspection.get_table_description(cursor, table)
            ]
            cursor.execute(f"SELECT {', '.join(qn(c) for c in columns)} FROM {qn(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is not None and text in _as_text(value):
                        found.append(f"{table}.{column}")
    return sorted(set(found))


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def latest_code(phone: str) -> str:
    """The code in the newest message the sandbox inbox holds for `phone`."""
    import re

    from heatdesk.sandbox.models import SandboxSms

    message = SandboxSms.objects.filter(phone=phone).first()
    assert message is not None, f"no SMS for {phone} in the sandbox inbox"
    found = re.search(r"\d{6}", message.text)
    assert found is not None, message.text
    return found.group(0)
