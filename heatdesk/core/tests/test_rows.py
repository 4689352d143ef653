"""Hand-written hot reads: values come back as the ORM gives them, prepared once per connection
on PostgreSQL."""

from decimal import Decimal

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from heatdesk.core import rows
from heatdesk.estates.models import House
from heatdesk.testing import make_house

SQL = (
    'SELECT "account_no", "heated_area", "owner_name", "created_at" '
    "FROM estates_house WHERE id = %s"
)


def fields() -> list:
    return [
        rows.column(House, n) for n in ("account_no", "heated_area", "owner_name", "created_at")
    ]


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "hd_test_rows"])
def test_values_come_back_as_the_orm_reads_them(name):
    house = make_house(owner_name="王秀英", heated_area=Decimal("85.25"))
    stored = House.objects.get(pk=house.pk)
    for _ in range(2):
        found = rows.fetch(SQL, [house.pk], fields(), name=name)
        assert found == [[house.account_no, Decimal("85.25"), "王秀英", stored.created_at]]
        assert isinstance(found[0][1], Decimal)
        assert found[0][3].tzinfo is not None
    assert rows.fetch(SQL, [house.pk + 1000], fields(), name=name) == []


@pytest.mark.django_db
def test_a_named_read_is_prepared_once_then_executed_by_name():
    if connection.vendor != "postgresql":
        # SQLite keeps its own statement cache: the plain statement runs every time
        house = make_house()
        with CaptureQueriesContext(connection) as ctx:
            rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows")
        assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["SELECT"]
        return
    house = make_house()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows_once")
    # one round trip each: the first prepares and executes, the others execute by name
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["PREPARE", "EXECUTE", "EXECUTE"]
    assert "hd_test_rows_once" in prepared_names()


@pytest.mark.django_db
def test_prepared_statements_can_be_switched_off(settings):
    settings.DB_PREPARED_STATEMENTS = False
    house = make_house()
    with CaptureQueriesContext(connection) as ctx:
        found = rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows_off")
    assert found[0][0] == house.account_no
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == ["SELECT"]
    if connection.vendor == "postgresql":
        assert "hd_test_rows_off" not in prepared_names()


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_again():
    house = make_house()
    rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows_new")
    connection.close()
    with CaptureQueriesContext(connection) as ctx:
        found = rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows_new")
    assert found[0][0] == house.account_no
    expected = "PREPARE" if connection.vendor == "postgresql" else "SELECT"
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == [expected]


def test_only_plain_statement_names_are_accepted(db):
    with pytest.raises(ValueError, match="not a statement name"):
        rows.fetch(SQL, [1], fields(), name="x; DROP TABLE estates_house")


@pytest.mark.django_db
def test_a_call_that_fails_after_preparing_does_not_break_the_next_one():
    house = make_house()
    # given a first call that fails when executing (bad parameter), after PREPARE may have run
    if connection.vendor == "postgresql":
        with pytest.raises(DataError), transaction.atomic():
            rows.fetch(SQL, ["not a number"], fields(), name="hd_test_rows_fail")
    else:  # SQLite compares any value with any column: nothing found, nothing failed
        assert rows.fetch(SQL, ["not a number"], fields(), name="hd_test_rows_fail") == []
    # then the next calls on the same connection answer, each in one statement after the check
    for _ in range(2):
        assert rows.fetch(SQL, [house.pk], fields(), name="hd_test_rows_fail")[0][0] == (
            house.account_no
        )
    if connection.vendor == "postgresql":
        assert "hd_test_rows_fail" in prepared_names()


COUNT_SQL = "SELECT COUNT(*) FROM estates_house WHERE id >= %s"


@pytest.mark.django_db
def test_reads_fetched_together_answer_as_each_alone_in_one_round_trip_once_prepared():
    first, second = make_house(owner_name="王秀英"), make_house(owner_name="李四")
    count = [rows.column(House, "id")]  # an integer column, as COUNT(*) is
    reads = [
        rows.Read(SQL, [first.pk], fields(), name="hd_test_together_a"),
        rows.Read(COUNT_SQL, [first.pk], count, name="hd_test_together_b"),
        rows.Read(SQL, [second.pk + 1000], fields(), name="hd_test_together_c"),
    ]
    alone = [rows.fetch(r.sql, r.params, r.fields) for r in reads]
    assert alone[0][0][2] == "王秀英"
    assert alone[1] == [[2]]
    assert alone[2] == []
    # the first call prepares each on PostgreSQL; later ones go together
    assert rows.fetch_together(reads) == alone
    with CaptureQueriesContext(connection) as ctx:
        assert rows.fetch_together(reads) == alone
    sent = [q["sql"] for q in ctx.captured_queries]
    if connection.vendor == "postgresql":
        assert len(sent) == 1
        assert [s.split("(")[0] for s in sent[0].split("; ")] == [
            "EXECUTE hd_test_together_a",
            "EXECUTE hd_test_together_b",
            "EXECUTE hd_test_together_c",
        ]
    else:
        assert [s.split()[0] for s in sent] == ["SELECT"] * 3


def test_only_named_reads_go_together(db):
    with pytest.raises(ValueError, match="named reads only"):
        rows.fetch_together([rows.Read(SQL, [1], fields())])
    with pytest.raises(ValueError, match="named reads only"):
        rows.fetch_together([])


@pytest.mark.django_db
def test_reads_that_failed_together_are_checked_before_their_next_use():
    house = make_house()
    good = rows.Read(SQL, [house.pk], fields(), name="hd_test_together_ok")
    rows.fetch_together([good, good._replace(name="hd_test_together_bad")])
    if connection.vendor != "postgresql":
        return  # SQLite has nothing prepared to lose
    # given the batch fails (a bad parameter) inside a transaction that then rolls back
    bad = good._replace(params=["not a number"], name="hd_test_together_bad")
    with pytest.raises(DataError), transaction.atomic():
        rows.fetch_together([good, bad])
    # then both statements are still there, found again, and the next batch answers
    with CaptureQueriesContext(connection) as ctx:
        found = rows.fetch_together([good, bad._replace(params=[house.pk])])
    assert [row[0][0] for row in found] == [house.account_no, house.account_no]
    assert [q["sql"].split()[0] for q in ctx.captured_queries] == [
        "SELECT",
        "EXECUTE",
        "SELECT",
        "EXECUTE",
    ]
