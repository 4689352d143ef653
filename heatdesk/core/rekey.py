"""Re-encrypting personal data under the active key, after a new key was put first.

Every `EncryptedTextField` of every installed model is found through `_meta`, so a new
encrypted column needs nothing here. Rows are read in primary-key batches straight from the
table; a value already under the active key is left alone, so a second run changes nothing and
an interrupted run can simply be started again. Each value is written back with a
compare-and-set UPDATE (`WHERE pk = … AND column = <the ciphertext we read>`): a row changed by
someone else in between keeps their value, and is picked up by the next run.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction

from heatdesk.core import crypto
from heatdesk.core.fields import EncryptedTextField


@dataclass
class RekeyResult:
    """How many values were re-encrypted, left alone (already current) or skipped (changed
    concurrently), per model label."""

    rekeyed: dict[str, int]
    current: dict[str, int]
    skipped: dict[str, int]

    @property
    def total_rekeyed(self) -> int:
        return sum(self.rekeyed.values())


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Each concrete, managed model with encrypted columns, and those columns."""
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        fields = [f for f in meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def rekey_all(*, batch_size: int = 500) -> RekeyResult:
    """Re-encrypt every encrypted value that is not under the active key."""
    result = RekeyResult(rekeyed={}, current={}, skipped={})
    for model, fields in encrypted_fields():
        label = model._meta.label
        result.rekeyed[label] = result.current[label] = result.skipped[label] = 0
        for rekeyed, current, skipped in _rekey_model(model, fields, batch_size=batch_size):
            result.rekeyed[label] += rekeyed
            result.current[label] += current
            result.skipped[label] += skipped
    return result


def _rekey_model(
    model: type[models.Model], fields: list[EncryptedTextField], *, batch_size: int
) -> Iterator[tuple[int, int, int]]:
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    pk_column = qn(model._meta.pk.column)
    columns = ", ".join(qn(f.column) for f in fields)
    active = crypto.keyring().active_kid
    last_pk = None
    while True:
        where = f"WHERE {pk_column} > %s " if last_pk is not None else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {pk_column}, {columns} FROM {table} {where}"  # noqa: S608 - names quoted
                f"ORDER BY {pk_column} LIMIT %s",
                [last_pk, batch_size] if last_pk is not None else [batch_size],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        rekeyed = current = skipped = 0
        with transaction.atomic():
            for pk, *values in rows:
                for field, stored in zip(fields, values, strict=True):
                    if not stored:
                        continue
                    if stored.startswith(f"{crypto.PREFIX}:{active}:"):
                        current += 1
                        continue
                    context = field._context()
                    try:
                        plain = crypto.decrypt(stored, context=context)
                    except crypto.DecryptionError as exc:
                        raise crypto.DecryptionError(
                            f"{model._meta.label} pk={pk} {field.name}: {exc}"
                        ) from exc
                    fresh = crypto.encrypt(plain, context=context)
                    column = qn(field.column)
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s "  # noqa: S608 - names quoted
                            f"WHERE {pk_column} = %s AND {column} = %s",
                            [fresh, pk, stored],
                        )
                        if cursor.rowcount == 1:
                            rekeyed += 1
                        else:
                            # Changed since we read it: the new value is already encrypted by
                            # whoever wrote it; a later run re-encrypts it if it needs to.
                            skipped += 1
        last_pk = rows[-1][0]
        yield rekeyed, current, skipped
