"""The ceilings every run measures first, on the same server, middleware and database as the
scenarios: a bare JSON endpoint, a one-row primary-key read, a one-row insert (bench/app), and
pgbench's TPC-B-like script on the same PostgreSQL."""

from bench.scenarios import Context, HttpLoad
from bench.server import get_json


def _check_hello(ctx: Context) -> None:
    get_json(ctx.base_url + "/bench/hello")


def _check_row(ctx: Context) -> None:
    row = get_json(f"{ctx.base_url}/bench/rows/{ctx.read_rows}")
    if not isinstance(row, dict) or row.get("id") != ctx.read_rows:
        raise RuntimeError(f"/bench/rows/{ctx.read_rows} answered {row!r}")
    get_json(f"{ctx.base_url}/bench/rows/{ctx.read_rows + 1}", status=404)


HELLO = HttpLoad(
    name="hello",
    description="bare JSON, no database",
    path="/bench/hello",
    script="hello.lua",
    check=_check_hello,
)
ROW_READ = HttpLoad(
    name="row-read",
    description="one primary-key SELECT, pydantic-serialised",
    path="/bench/rows/{id}",
    script="row_read.lua",
    script_args=lambda ctx: (str(ctx.read_rows),),
    check=_check_row,
    ceiling="hello",
)
ROW_INSERT = HttpLoad(
    name="row-insert",
    description="one INSERT in a transaction",
    path="/bench/writes",
    script="row_insert.lua",
    ceiling="hello",
)
HTTP_CEILINGS = (HELLO, ROW_READ, ROW_INSERT)
PGBENCH = "pgbench-tpcb"
