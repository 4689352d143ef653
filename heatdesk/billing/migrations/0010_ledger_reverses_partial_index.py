"""Index `LedgerEntry.reverses` only where it is set: the charges a billing run writes by the
million leave it empty, and every lookup (`payment.reversals`) is by a payment's id.

The foreign key's full index is dropped by name rather than through AlterField, which would
rebuild the table on SQLite and drop and re-validate the foreign key on PostgreSQL."""

import django.db.models.deletion
from django.db import migrations, models


def _full_index(schema_editor, model) -> tuple[str, str]:
    table = model._meta.db_table
    name = schema_editor._create_index_name(table, ["reverses_id"], suffix="")
    return schema_editor.quote_name(name), schema_editor.quote_name(table)


def drop_full_index(apps, schema_editor) -> None:
    name, _ = _full_index(schema_editor, apps.get_model("billing", "LedgerEntry"))
    schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def restore_full_index(apps, schema_editor) -> None:
    name, table = _full_index(schema_editor, apps.get_model("billing", "LedgerEntry"))
    schema_editor.execute(f'CREATE INDEX {name} ON {table} ("reverses_id")')


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0009_billing_late_fee_waiver"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="reverses",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversals",
                        to="billing.ledgerentry",
                        verbose_name="冲回的缴费",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_full_index, restore_full_index, elidable=False),
            ],
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("reverses__isnull", False)),
                fields=["reverses"],
                name="ledger_reverses_idx",
            ),
        ),
    ]
