"""PostgreSQL side of a run: fresh databases, checkpoints, and the pgbench TPC-B ceiling."""

import contextlib
import glob
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class PgTarget:
    url: str
    host: str
    port: int
    user: str
    password: str
    name: str

    @classmethod
    def parse(cls, url: str) -> "PgTarget":
        parts = urlsplit(url)
        if parts.scheme not in {"postgres", "postgresql"}:
            raise SystemExit(f"DATABASE_URL must be postgres://…, got {url!r}")
        host = parts.hostname or "127.0.0.1"
        if host not in {"127.0.0.1", "localhost"}:
            raise SystemExit(f"bench only talks to a local PostgreSQL on 127.0.0.1, not {host}")
        return cls(
            url=url,
            host="127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            name=parts.path.lstrip("/") or "heatdesk_bench",
        )

    def with_name(self, name: str) -> "PgTarget":
        parts = urlsplit(self.url)
        return PgTarget(
            url=urlunsplit(parts._replace(path=f"/{name}")),
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            name=name,
        )

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def libpq_env(self) -> dict[str, str]:
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def recreate_database(target: PgTarget) -> None:
    """Drop (closing any leftover sessions) and create `target.name`."""
    with target.connect() as conn:
        name = sql.Identifier(target.name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(target: PgTarget) -> None:
    with target.connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.name))
        )


def checkpoint(target: PgTarget) -> None:
    """Flush dirty buffers now, so a timed checkpoint is less likely to land inside a run."""
    # Needs superuser or pg_checkpoint; the run still works without it.
    with (
        target.connect(target.name) as conn,
        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CHECKPOINT")


def server_version(target: PgTarget) -> str:
    with target.connect(target.name) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def find_pgbench() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    if found:
        return found[-1]
    on_path = shutil.which("pgbench")
    if on_path:
        return on_path
    raise SystemExit(
        "pgbench not found: install it with `apt-get install -y postgresql-contrib` "
        "(it ships in /usr/lib/postgresql/<version>/bin/pgbench)"
    )


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    transactions: int
    failed: int


def pgbench_init(pgbench: str, target: PgTarget, *, scale: int) -> None:
    subprocess.run(
        [pgbench, "-i", "-q", "-s", str(scale), target.name],
        env={**os.environ, **target.libpq_env()},
        check=True,
        capture_output=True,
        timeout=600,
    )


def pgbench_tpcb(pgbench: str, target: PgTarget, *, clients: int, seconds: int) -> PgbenchResult:
    """The TPC-B-like script over TCP, with per-transaction logs for the percentiles."""
    with tempfile.TemporaryDirectory(prefix="heatdesk-pgbench-") as tmp:
        prefix = str(Path(tmp) / "tpcb")
        done = subprocess.run(
            [
                pgbench,
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-l",
                f"--log-prefix={prefix}",
                target.name,
            ],
            env={**os.environ, **target.libpq_env()},
            check=True,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        latencies_us: list[float] = []
        for log in Path(tmp).glob("tpcb*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies_us.append(float(fields[2]))
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if tps is None or not latencies_us:
        raise RuntimeError(f"could not read pgbench's output:\n{done.stdout}\n{done.stderr}")
    cuts = statistics.quantiles(latencies_us, n=100, method="inclusive")
    return PgbenchResult(
        tps=float(tps.group(1)),
        p50_ms=cuts[49] / 1000,
        p90_ms=cuts[89] / 1000,
        p99_ms=cuts[98] / 1000,
        transactions=int(processed.group(1)) if processed else len(latencies_us),
        failed=int(failed.group(1)) if failed else 0,
    )
