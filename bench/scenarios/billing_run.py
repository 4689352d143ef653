"""billing-run-pg and billing-run-sqlite: a committed billing run over 1,000,000 houses, beside
a raw COPY (PostgreSQL) / executemany (SQLite) of the same rows in the same run; see
bench/billing_run.py. Not an HTTP load: each runs as its own command, on its own database."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit

from bench.scenarios import ProcessLoad, register

HOUSES = int(os.environ.get("BENCH_BILLING_HOUSES", "1000000"))


def _pg_url() -> str:
    """The run's own database, next to the bench database (which it never touches)."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/heatdesk_bench"
    parts = urlsplit(base)
    name = parts.path.lstrip("/") + "_billing"
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def _command(db: str) -> list[str]:
    command = [sys.executable, "-m", "bench.billing_run", "--db", db, "--houses", str(HOUSES)]
    if db == "pg":
        command += ["--url", _pg_url()]
    return command


register(
    ProcessLoad(
        name="billing-run-pg",
        description=f"billing run, {HOUSES:,} houses, PostgreSQL: dry run then commit",
        command=lambda: _command("pg"),
    )
)
register(
    ProcessLoad(
        name="billing-run-sqlite",
        description=f"billing run, {HOUSES:,} houses, SQLite: dry run then commit",
        command=lambda: _command("sqlite"),
    )
)
