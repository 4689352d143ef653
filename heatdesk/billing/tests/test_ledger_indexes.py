"""The ledger's reversal pointer is indexed only where it is set, so the charges a billing run
writes by the million maintain no index for it, while a payment's reversals are still found by
the index."""

from django.db import connection

from heatdesk.billing.models import LedgerEntry


def _index_sql_on_reverses() -> list[str]:
    table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                [table, "%reverses_id%"],
            )
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql LIKE %s",
                [table, "%reverses_id%"],
            )
        return [row[0] for row in cursor.fetchall()]


def test_the_only_index_on_the_reversal_pointer_is_partial(db):
    found = _index_sql_on_reverses()
    assert len(found) == 1, found
    assert "ledger_reverses_idx" in found[0]
    assert "IS NOT NULL" in found[0].upper()


def test_every_reversal_lookup_names_a_payment(db):
    # The partial index serves `payment.reversals`: the filter is on a non-null id.
    sql = str(LedgerEntry(pk=7).reversals.all().query)
    assert '"reverses_id" = 7' in sql
