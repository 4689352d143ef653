"""INSERT … ON CONFLICT DO NOTHING RETURNING the primary key, for rows whose unique constraint is
their idempotency guard (a notify's event id, a ledger posting's source id).

`Model.objects.create()` inside `transaction.atomic()` catching IntegrityError costs three round
trips (SAVEPOINT, INSERT, RELEASE) and aborts the savepoint on a repeat; this costs one and
leaves the transaction usable. Only a unique conflict is skipped, on PostgreSQL and SQLite
alike: a NOT NULL, CHECK or foreign-key violation still raises (SQLite's `INSERT OR IGNORE`,
which Django's `ignore_conflicts` uses, would swallow those too).
"""

from django.db import connections, router
from django.db.models import AutoField, Model
from django.db.models.sql.subqueries import InsertQuery

_RETURNING = " RETURNING "


def insert_unless_duplicate(obj: Model) -> bool:
    """Insert `obj` unless a row with the same unique key exists. True when inserted (its pk is
    set, as `save()` would); False when a unique constraint refused it (a repeat: nothing
    written). Waits, like any INSERT, for an uncommitted twin and sees it once committed."""
    model = type(obj)
    meta = model._meta
    pk = meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    fields = [
        f
        for f in meta.local_concrete_fields
        if not getattr(f, "generated", False)
        and not (f is pk and isinstance(f, AutoField) and obj.pk is None)
    ]
    alias = router.db_for_write(model)
    connection = connections[alias]
    query = InsertQuery(model)
    query.insert_values(fields, [obj])
    compiler = query.get_compiler(using=alias)
    compiler.returning_fields = [pk]
    ((sql, params),) = compiler.as_sql()
    head, found, tail = sql.rpartition(_RETURNING)
    if not found:
        raise RuntimeError(f"{connection.vendor} cannot return the inserted key")
    with connection.cursor() as cursor:
        cursor.execute(f"{head} ON CONFLICT DO NOTHING{_RETURNING}{tail}", params)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = alias
    return True
