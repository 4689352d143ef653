"""Writing a billing run's batch: bills, their lines and their ledger charges in bulk, in the
caller's transaction, without duplicates.

The rows are built in Python (never as model instances) and sent in one go per table:

* PostgreSQL: COPY (binary) into two temporary tables, then one statement inserts the bills
  with ON CONFLICT DO NOTHING on the one-live-bill-per-house-and-season index and, from the
  bills that were really inserted (RETURNING), their lines and their ledger charges.
* SQLite: executemany of the bills with the same ON CONFLICT clause; the transaction holds the
  database's write lock (BEGIN IMMEDIATE), so the bills it inserted are the run's bills with an
  id above the largest id before the insert; then their lines and charges.

A house another writer billed first is silently skipped by the database, whatever the timing:
the unique index decides, not a check made beforehand.
"""

import base64
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db import connection, transaction

from heatdesk.billing.calculation import DraftLine
from heatdesk.billing.models import Bill, BillLine, LedgerEntry

_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def public_ids(prefix: str, count: int) -> list[str]:
    """`count` random ids like `core.ids.new_public_id(prefix)` (16 Crockford characters, 80
    bits), made from one read of the system's random source instead of one call per id."""
    text = base64.b32encode(os.urandom(10 * count)).translate(_CROCKFORD).decode()
    return [f"{prefix}_{text[i : i + 16]}" for i in range(0, 16 * count, 16)]


class BillRow(NamedTuple):  # a tuple: one is made per bill
    house_id: int
    tariff_id: int
    area: Decimal
    usage_type: str
    user_type: str
    heating_status: str
    total_fen: int
    lines: tuple[DraftLine, ...]


@dataclass(frozen=True)
class Batch:
    season_id: int
    run_id: int
    by_id: int | None
    at: dt.datetime
    charge_words: str  # "2026-2027采暖季热费（账单 " — the bill's public id and "）" follow


BILL_COLUMNS = (
    "public_id",
    "house_id",
    "season_id",
    "tariff_id",
    "status",
    "area",
    "area_basis",
    "area_price",
    "pricing",
    "usage_type",
    "user_type",
    "heating_status",
    "tariff_version",
    "total_fen",
    "paid_fen",
    "created_at",
    "issued_at",
    "issued_by_id",
    "void_reason",
    "run_id",
)
LINE_COLUMNS = (
    "bill_id",
    "kind",
    "quantity",
    "unit",
    "unit_price",
    "ratio",
    "amount_fen",
    "period_from",
    "period_to",
    "explanation",
    "reason",
    "created_by_id",
    "created_at",
)
ENTRY_COLUMNS = (
    "house_id",
    "bill_id",
    "kind",
    "amount_fen",
    "explanation",
    "source",
    "source_id",
    "occurred_at",
    "created_at",
    "created_by_id",
)
# What the database refuses here is a second live bill for a house and season (the partial
# unique index `bill_one_per_house_season`); the only other unique column, the random public
# id, does not collide in practice (and a house skipped that way is billed by the next run).
ON_CONFLICT = "ON CONFLICT DO NOTHING"
# PostgreSQL names that index as the only one to skip on: without a target every unique index
# of the table is probed before each row goes in (three per bill, ≈ 17 % of the bills' insert).
# A clash of random public ids would then fail the batch instead, to be retried by a resume.
ON_CONFLICT_POSTGRESQL = "ON CONFLICT (house_id, season_id) WHERE NOT (status = 'void') DO NOTHING"


def _line_values(line: DraftLine) -> tuple[object, ...]:
    return (
        line.kind,
        line.quantity,
        line.unit,
        line.unit_price,
        line.ratio,
        line.amount_fen,
        line.period_from,
        line.period_to,
        line.explanation,
        line.reason,
    )


class Staged(NamedTuple):
    """A batch's rows encoded ahead for PostgreSQL's COPY (see `stage`)."""

    rows: Sequence[BillRow]
    bills: str
    lines: str


def stage(rows: Sequence[BillRow]) -> Staged | None:
    """The rows' COPY text, made ahead of the write (by a thread planning the next batch); None
    where the database takes no COPY."""
    if connection.vendor != "postgresql":
        return None
    bills, lines = _stage_text(public_ids("bl", len(rows)), rows)
    return Staged(rows, bills, lines)


def bills_write(*, batch: Batch, rows: Sequence[BillRow], staged: Staged | None = None) -> set[int]:
    """Insert issued bills with their lines and ledger charges; returns the houses billed (the
    others already had a live bill for the season). Runs inside the caller's transaction.
    `staged` is `stage(rows)` if it was made ahead."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a batch is written inside the caller's transaction")
    if not rows:
        return set()
    if connection.vendor == "postgresql":
        if staged is None or staged.rows is not rows:
            staged = Staged(rows, *_stage_text(public_ids("bl", len(rows)), rows))
        return _write_postgresql(batch, staged)
    return _write_sqlite(batch, rows)


# --- PostgreSQL --------------------------------------------------------------------------------

# One round trip: three statements, no parameters.
_STAGE_DDL = ";\n".join(
    (
        """CREATE TEMPORARY TABLE IF NOT EXISTS billing_stage_bill (
        house_id bigint, public_id varchar(24), tariff_id bigint, area numeric(10, 2),
        usage_type varchar(20), user_type varchar(20), heating_status varchar(20),
        total_fen bigint)""",
        """CREATE TEMPORARY TABLE IF NOT EXISTS billing_stage_line (
        house_id bigint, seq integer, kind varchar(20), quantity numeric(14, 4),
        unit varchar(10), unit_price numeric(14, 4), ratio numeric(14, 10), amount_fen bigint,
        period_from date, period_to date, explanation varchar(300), reason varchar(300))""",
        "TRUNCATE billing_stage_bill, billing_stage_line",
    )
)
# COPY's text format: these characters are escaped, NULL is \N.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: object) -> str:
    """One value as a field of COPY's text format (numbers, dates, text, NULL)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return str(value)  # int, Decimal (PostgreSQL reads its exponent form too), date (ISO)


# The lines of a bill are shared by every house planned the same way (see `run_plan`), so their
# COPY text is made once per tuple of lines, not once per house. The cache keeps each tuple it
# describes, so the id it is looked up by cannot be reused by another tuple while it is cached.
_LINES_TEXT: dict[int, tuple[tuple[DraftLine, ...], tuple[str, ...]]] = {}
MAX_LINES_CACHED = 100_000


def _lines_text(lines: tuple[DraftLine, ...]) -> tuple[str, ...]:
    """`seq<TAB>kind<TAB>…<TAB>reason<NEWLINE>` for each line; the house id goes in front."""
    found = _LINES_TEXT.get(id(lines))
    if found is not None and found[0] is lines:
        return found[1]
    if len(_LINES_TEXT) >= MAX_LINES_CACHED:
        _LINES_TEXT.clear()
    text = tuple(
        "\t".join([str(seq), *map(_copy_text, _line_values(line))]) + "\n"
        for seq, line in enumerate(lines)
    )
    _LINES_TEXT[id(lines)] = (lines, text)
    return text


def _stage_text(ids: Sequence[str], rows: Sequence[BillRow]) -> tuple[str, str]:
    """The staging tables' rows in COPY's text format, built as two strings."""
    words: dict[str, str] = {}  # usage types and statuses: a handful of values per batch

    def esc(value: str) -> str:
        found = words.get(value)
        if found is None:
            found = words[value] = _copy_text(value)
        return found

    bills: list[str] = []
    lines: list[str] = []
    for public_id, row in zip(ids, rows, strict=True):  # ids: letters, digits and "_" only
        house = str(row.house_id)
        bills.append(
            f"{house}\t{public_id}\t{row.tariff_id}\t{row.area}\t{esc(row.usage_type)}\t"
            f"{esc(row.user_type)}\t{esc(row.heating_status)}\t{row.total_fen}\n"
        )
        for text in _lines_text(row.lines):
            lines.append(f"{house}\t{text}")
    return "".join(bills), "".join(lines)


def _write_postgresql(batch: Batch, staged: Staged) -> set[int]:
    bill_table = Bill._meta.db_table
    line_table = BillLine._meta.db_table
    entry_table = LedgerEntry._meta.db_table
    bills, lines = staged.bills, staged.lines
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_DDL)
        raw = cursor.cursor
        with raw.copy("COPY billing_stage_bill FROM STDIN") as copy:
            copy.write(bills)
        with raw.copy("COPY billing_stage_line FROM STDIN") as copy:
            copy.write(lines)
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {bill_table} ({", ".join(BILL_COLUMNS)})
                SELECT s.public_id, s.house_id, %(season)s, s.tariff_id, 'issued', s.area,
                       t.area_basis, t.area_price, t.pricing, s.usage_type, s.user_type,
                       s.heating_status, t.version, s.total_fen, 0, %(at)s, %(at)s, %(by)s, '',
                       %(run)s
                FROM billing_stage_bill s JOIN billing_tariff t ON t.id = s.tariff_id
                ORDER BY s.house_id
                {ON_CONFLICT_POSTGRESQL}
                RETURNING id, house_id, public_id, total_fen
            ), lines AS (
                INSERT INTO {line_table} ({", ".join(LINE_COLUMNS)})
                SELECT ins.id, l.kind, l.quantity, l.unit, l.unit_price, l.ratio, l.amount_fen,
                       l.period_from, l.period_to, l.explanation, l.reason, %(by)s, %(at)s
                FROM billing_stage_line l JOIN ins ON ins.house_id = l.house_id
                ORDER BY ins.id, l.seq
                RETURNING 1
            ), charges AS (
                INSERT INTO {entry_table} ({", ".join(ENTRY_COLUMNS)})
                SELECT ins.house_id, ins.id, 'charge', ins.total_fen,
                       %(words)s || ins.public_id || '）', '', '', %(at)s, %(at)s, %(by)s
                FROM ins ORDER BY ins.id
                RETURNING 1
            )
            SELECT house_id FROM ins
            """,  # noqa: S608 - table names come from the models, values are parameters
            {
                "season": batch.season_id,
                "at": batch.at,
                "by": batch.by_id,
                "run": batch.run_id,
                "words": batch.charge_words,
            },
        )
        return {house_id for (house_id,) in cursor.fetchall()}


# --- SQLite ------------------------------------------------------------------------------------


# As `_LINES_TEXT` for PostgreSQL: each shared tuple of lines as the values SQLite is given,
# adapted once (decimals as text, dates in ISO form, as the driver's adapters would each time).
_LINES_VALUES: dict[int, tuple[tuple[DraftLine, ...], tuple[tuple[object, ...], ...]]] = {}


def _sqlite_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _lines_values(lines: tuple[DraftLine, ...]) -> tuple[tuple[object, ...], ...]:
    found = _LINES_VALUES.get(id(lines))
    if found is not None and found[0] is lines:
        return found[1]
    if len(_LINES_VALUES) >= MAX_LINES_CACHED:
        _LINES_VALUES.clear()
    values = tuple(tuple(map(_sqlite_value, _line_values(line))) for line in lines)
    _LINES_VALUES[id(lines)] = (lines, values)
    return values


def _write_sqlite(batch: Batch, rows: Sequence[BillRow]) -> set[int]:
    bill_table = Bill._meta.db_table
    line_table = BillLine._meta.db_table
    entry_table = LedgerEntry._meta.db_table
    at = connection.ops.adapt_datetimefield_value(batch.at)
    tariff_ids = sorted({row.tariff_id for row in rows})
    marks = ", ".join("?" * len(BILL_COLUMNS))
    raw = connection.connection.cursor()
    try:
        tariffs = {
            pk: (basis, price, pricing, version)
            for pk, basis, price, pricing, version in raw.execute(
                "SELECT id, area_basis, CAST(area_price AS TEXT), pricing, version "  # noqa: S608
                f"FROM billing_tariff WHERE id IN ({', '.join('?' * len(tariff_ids))})",
                tariff_ids,
            )
        }
        (before,) = raw.execute(f"SELECT COALESCE(MAX(id), 0) FROM {bill_table}").fetchone()  # noqa: S608
        ids = public_ids("bl", len(rows))
        raw.executemany(
            f"INSERT INTO {bill_table} ({', '.join(BILL_COLUMNS)}) VALUES ({marks}) {ON_CONFLICT}",  # noqa: S608
            [
                (
                    public_id,
                    row.house_id,
                    batch.season_id,
                    row.tariff_id,
                    "issued",
                    row.area,
                    *tariffs[row.tariff_id][:3],
                    row.usage_type,
                    row.user_type,
                    row.heating_status,
                    tariffs[row.tariff_id][3],
                    row.total_fen,
                    0,
                    at,
                    at,
                    batch.by_id,
                    "",
                    batch.run_id,
                )
                for public_id, row in zip(ids, rows, strict=True)
            ],
        )
        inserted = raw.execute(
            f"SELECT id, house_id, public_id, total_fen FROM {bill_table} "  # noqa: S608
            "WHERE run_id = ? AND id > ? ORDER BY id",
            (batch.run_id, before),
        ).fetchall()
        by_house = {row.house_id: row for row in rows}
        raw.executemany(
            f"INSERT INTO {line_table} ({', '.join(LINE_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(LINE_COLUMNS))})",
            [
                (bill_id, *values, batch.by_id, at)
                for bill_id, house_id, _, _ in inserted
                for values in _lines_values(by_house[house_id].lines)
            ],
        )
        raw.executemany(
            f"INSERT INTO {entry_table} ({', '.join(ENTRY_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})",
            [
                (
                    house_id,
                    bill_id,
                    "charge",
                    total,
                    f"{batch.charge_words}{public_id}）",
                    "",
                    "",
                    at,
                    at,
                    batch.by_id,
                )
                for bill_id, house_id, public_id, total in inserted
            ],
        )
    finally:
        raw.close()
    return {house_id for _, house_id, _, _ in inserted}
