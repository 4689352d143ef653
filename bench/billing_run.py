"""Scenarios `billing-run-pg` and `billing-run-sqlite`: a season's billing run over N houses
(default 1,000,000), beside a raw COPY / executemany of the same rows measured in the same run.

    python -m bench.billing_run --db pg       [--houses N] [--url postgres://…/hd_bench_billing]
    python -m bench.billing_run --db sqlite   [--houses N] [--path /tmp/hd-bench-billing.sqlite3]

Each phase runs in its own process, so its peak RSS is its own:

1. setup   — a fresh database, migrated; N houses in 1,000 communities (written with COPY /
             executemany), an open season and its tariffs;
2. ceiling — the rows the run will write (bills, lines, ledger charges), built in Python first,
             then inserted with COPY (PostgreSQL) or executemany (SQLite) into tables shaped
             like the real ones (same columns and indexes), timed without the building;
3. run     — the real thing through `billing.services.runs`: the dry run, then the commit,
             batch by batch (5,000 houses, one transaction each), exactly as the command does.

Targets (from the issue): commit ≤ 30 s on PostgreSQL, ≤ 60 s on SQLite, peak RSS ≤ 500 MB.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.seed import season_open_with_tariffs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = {"pg": 30.0, "sqlite": 60.0}
RSS_TARGET_MB = 500
COMMUNITIES = 1000
BUILDINGS = 10
UNITS = 4
SEED = 20261124


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatdesk.config.settings")
    os.environ.setdefault("HEATDESK_ENV", "development")
    os.environ.setdefault("HEATDESK_SANDBOX", "0")
    import django

    django.setup()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- Phase 1: a fresh database with N houses -----------------------------------------------------


def _fresh_database(db: str, url: str) -> None:
    if db == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _house_rows(houses: int, unit_ids: list[int]) -> Any:
    """(public_id, account_no, unit_id, room, building_area, heated_area, usage, user type,
    heating status, meter id) for every house; a city's mix of homes, shops, low-income
    households, stopped and disconnected houses."""
    from heatdesk.billing.bulk import public_ids

    rng = random.Random(SEED)
    per_unit = -(-houses // len(unit_ids))
    ids = public_ids("hs", houses)
    for n in range(houses):
        area = Decimal(rng.randrange(4000, 16000)) / 100
        roll = rng.random()
        usage = "non_residential" if roll < 0.03 else "residential"
        user_type = "low_income" if 0.03 <= roll < 0.05 else "normal"
        status = "stopped" if 0.05 <= roll < 0.08 else "disconnected" if roll > 0.995 else "heating"
        yield (
            ids[n],
            f"HT{n + 1:08d}",
            unit_ids[n // per_unit],
            f"{n % per_unit + 1:03d}",
            area,
            (area * Decimal("0.95")).quantize(Decimal("0.01")),
            usage,
            user_type,
            status,
            f"M{n + 1:08d}",
        )


HOUSE_COLUMNS = (
    "public_id",
    "account_no",
    "unit_id",
    "room",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "meter_id",
    "owner_name",
    "owner_phone",
    "owner_phone_hash",
    "created_at",
    "updated_at",
)


def phase_setup(db: str, url: str, houses: int) -> dict[str, Any]:
    _fresh_database(db, url)
    _django(url)
    from django.core.management import call_command
    from django.db import connection, transaction

    from heatdesk.billing.models import HeatingSeason
    from heatdesk.core import clock
    from heatdesk.estates.models import Building, Community, House, Unit

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    migrated = time.monotonic() - started
    started = time.monotonic()
    with transaction.atomic():
        Community.objects.bulk_create(
            Community(code=f"C{c:04d}", name=f"第{c}小区") for c in range(COMMUNITIES)
        )
        communities = list(Community.objects.order_by("id").values_list("id", flat=True))
        Building.objects.bulk_create(
            Building(community_id=c, name=f"{b + 1}号楼")
            for c in communities
            for b in range(BUILDINGS)
        )
        buildings = list(Building.objects.order_by("id").values_list("id", flat=True))
        Unit.objects.bulk_create(
            (Unit(building_id=b, name=f"{u + 1}单元") for b in buildings for u in range(UNITS)),
            batch_size=5000,
        )
        units = list(Unit.objects.order_by("id").values_list("id", flat=True))
        now = clock.now()
        table = House._meta.db_table
        rows = ((*row, "", "", "", now, now) for row in _house_rows(houses, units))
        with connection.cursor() as cursor:
            if db == "pg":
                with cursor.cursor.copy(
                    f"COPY {table} ({', '.join(HOUSE_COLUMNS)}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                stamp = connection.ops.adapt_datetimefield_value(now)
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(HOUSE_COLUMNS)}) "  # noqa: S608
                    f"VALUES ({', '.join(['%s'] * len(HOUSE_COLUMNS))})",
                    [(*row[:-2], stamp, stamp) for row in rows],
                )
    if db == "pg":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    seeded = time.monotonic() - started
    fields = {
        "code": "2026-2027",
        "heating_start": "2026-11-15",
        "heating_end": "2027-03-15",
        "bill_issue_date": "2026-09-01",
        "payment_due_date": "2026-12-31",
        "stop_apply_deadline": "2026-10-15",
    }
    import datetime as dt

    season = season_open_with_tariffs(
        dates={k: (v if k == "code" else dt.date.fromisoformat(v)) for k, v in fields.items()}
    )
    assert HeatingSeason.objects.get(pk=season.pk).status == "open"
    return {"migrate_s": round(migrated, 1), "seed_s": round(seeded, 1), "houses": houses}


# --- Phase 2: the ceiling ------------------------------------------------------------------------


def _scratch_tables(db: str) -> list[str]:
    """Empty tables shaped like the three the run writes (columns, indexes, checks)."""
    from django.db import connection

    names = ["billing_bill", "billing_billline", "billing_ledgerentry"]
    with connection.cursor() as cursor:
        for name in reversed(names):
            cursor.execute(f"DROP TABLE IF EXISTS ceiling_{name}")
        for name in names:
            if db == "pg":
                cursor.execute(
                    f"CREATE TABLE ceiling_{name} (LIKE {name} INCLUDING ALL)"  # noqa: S608
                )
                continue
            cursor.execute(
                "SELECT type, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL "
                "ORDER BY type DESC",
                [name],
            )
            for kind, ddl in cursor.fetchall():
                for other in names:  # the table and the foreign keys between the three
                    ddl = ddl.replace(f'"{other}"', f'"ceiling_{other}"')
                if kind == "index":
                    ddl = ddl.replace('INDEX "', 'INDEX "ceiling_', 1)
                cursor.execute(ddl)
    return names


def phase_ceiling(db: str, url: str) -> dict[str, Any]:
    """COPY / executemany of the rows the run writes, built before the clock starts."""
    _django(url)
    from django.db import connection, transaction

    from heatdesk.billing import bulk, run_plan, terms
    from heatdesk.billing.models import HeatingSeason, Tariff
    from heatdesk.core import clock
    from heatdesk.estates.models import House

    season = HeatingSeason.objects.get(code="2026-2027")
    dates = terms.season_dates(season)
    tariffs = {
        f"{t.usage_type}/{t.user_type}": run_plan.tariff_pick(
            id=t.pk,
            version=t.version,
            area_basis=t.area_basis,
            terms=terms.tariff_terms(t),
            season=dates,
        )
        for t in Tariff.objects.filter(season=season)
    }
    now = clock.now()
    started = time.monotonic()
    bills: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    houses = House.objects.order_by("pk").values_list(*run_plan.HOUSE_COLUMNS)
    public = iter(bulk.public_ids("bl", House.objects.count()))
    for values in houses.iterator(chunk_size=10000):
        plan = run_plan.plan_house(
            house=run_plan.HouseRow(*values),
            season=dates,
            tariffs=tariffs,
            billed=set(),
            duplicate_meters=frozenset(),
        )
        if plan.outcome != run_plan.BILL or plan.tariff is None:
            continue
        bill_id = len(bills) + 1
        t = plan.tariff
        bills.append(
            (
                bill_id,
                next(public),
                plan.house.id,
                season.pk,
                t.id,
                "issued",
                plan.area,
                t.area_basis,
                t.terms.area_price,
                t.terms.pricing,
                plan.house.usage_type,
                plan.house.user_type,
                plan.house.heating_status,
                t.version,
                plan.total_fen,
                0,
                now,
                now,
                None,
                "",
                None,
            )
        )
        for line in plan.lines:
            lines.append(
                (
                    bill_id,
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
                    None,
                    now,
                )
            )
        entries.append(
            (
                plan.house.id,
                bill_id,
                "charge",
                plan.total_fen,
                f"2026-2027采暖季热费（账单 {bills[-1][1]}）",
                "",
                "",
                now,
                now,
                None,
            )
        )
    built = time.monotonic() - started
    columns = {
        "billing_bill": ("id", *bulk.BILL_COLUMNS),
        "billing_billline": bulk.LINE_COLUMNS,
        "billing_ledgerentry": bulk.ENTRY_COLUMNS,
    }
    data = {"billing_bill": bills, "billing_billline": lines, "billing_ledgerentry": entries}
    names = _scratch_tables(db)
    timings: dict[str, float] = {}
    for name in names:
        rows = data[name]
        target = f"ceiling_{name}"
        started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor:
            if db == "pg":
                with cursor.cursor.copy(
                    f"COPY {target} ({', '.join(columns[name])}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                at = connection.ops.adapt_datetimefield_value(now)
                raw = connection.connection.cursor()
                raw.executemany(
                    f"INSERT INTO {target} ({', '.join(columns[name])}) "  # noqa: S608
                    f"VALUES ({', '.join('?' * len(columns[name]))})",
                    (tuple(at if v is now else v for v in row) for row in rows),
                )
                raw.close()
        timings[name] = round(time.monotonic() - started, 2)
    with connection.cursor() as cursor:
        for name in reversed(names):  # the referencing tables first
            cursor.execute(f"DROP TABLE ceiling_{name}")
    insert = sum(timings.values())
    return {
        "bills": len(bills),
        "lines": len(lines),
        "entries": len(entries),
        "build_s": round(built, 1),
        "insert_s": round(insert, 2),
        "per_table_s": timings,
        "bills_per_s": round(len(bills) / insert),
        "peak_rss_mb": round(_peak_rss_mb()),
    }


# --- Phase 3: the billing run --------------------------------------------------------------------


def _cpu_seconds(backend: int | None) -> tuple[float, float | None]:
    """CPU time used so far by this process and by its PostgreSQL backend (read from /proc when
    the server runs on this machine, else None). On a machine shared with other work the wall
    time of a phase swings with the load; the CPU time it takes swings much less."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server = None
    if backend is not None:
        try:
            fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
            server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            server = None
    return usage.ru_utime + usage.ru_stime, server


def phase_run(db: str, url: str, batch_size: int) -> dict[str, Any]:
    _django(url)
    from django.db import connection

    from heatdesk.billing.models import Bill, BillLine, HeatingSeason, LedgerEntry
    from heatdesk.billing.services import runs

    season = HeatingSeason.objects.get(code="2026-2027")
    started = time.monotonic()
    run = runs.billing_run_start(season=season, by=None, batch_size=batch_size, background=False)
    run = runs.billing_run_process(run_id=run.pk)
    previewed = time.monotonic() - started
    assert run.status == "previewed", run.error
    rss_preview = _peak_rss_mb()
    backend = None
    if db == "pg":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (backend,) = cursor.fetchone()
    cpu_before = _cpu_seconds(backend)
    started = time.monotonic()
    runs.billing_run_commit(run=run, by=None, background=False)
    run = runs.billing_run_process(run_id=run.pk)
    committed = time.monotonic() - started
    cpu_after = _cpu_seconds(backend)
    python_cpu = cpu_after[0] - cpu_before[0]
    server_cpu = (
        cpu_after[1] - cpu_before[1]
        if cpu_after[1] is not None and cpu_before[1] is not None
        else None
    )
    assert run.status == "committed", run.error
    counts = run.result["counts"]
    made = Bill.objects.filter(run=run).count()
    assert made == counts["bills"] == run.preview["counts"]["bills"], (made, counts)
    assert LedgerEntry.objects.filter(bill__run=run).count() == made
    lines = BillLine.objects.filter(bill__run=run).count()
    return {
        "houses": run.total,
        "bills": made,
        "lines": lines,
        "preview_s": round(previewed, 1),
        "commit_s": round(committed, 1),
        "commit_cpu_python_s": round(python_cpu, 1),
        "commit_cpu_server_s": None if server_cpu is None else round(server_cpu, 1),
        "bills_per_s": round(made / committed),
        "peak_rss_preview_mb": round(rss_preview),
        "peak_rss_mb": round(_peak_rss_mb()),
        "counts": counts,
    }


# --- Driver --------------------------------------------------------------------------------------


def _child(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.billing_run",
        "--phase",
        phase,
        "--db",
        args.db,
        "--url",
        args.url,
        "--houses",
        str(args.houses),
        "--batch-size",
        str(args.batch_size),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {phase} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["pg", "sqlite"], required=True)
    parser.add_argument("--houses", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--url", default="")
    parser.add_argument("--path", default="/tmp/hd-bench-billing.sqlite3")  # noqa: S108
    parser.add_argument("--phase", choices=["setup", "ceiling", "run"])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not args.url:
        args.url = (
            "postgres://postgres@127.0.0.1:5432/hd_bench_billing"
            if args.db == "pg"
            else f"sqlite:///{args.path}"
        )
    if args.phase:
        answer = {
            "setup": lambda: phase_setup(args.db, args.url, args.houses),
            "ceiling": lambda: phase_ceiling(args.db, args.url),
            "run": lambda: phase_run(args.db, args.url, args.batch_size),
        }[args.phase]()
        print(json.dumps(answer, default=str))
        return
    name = f"billing-run-{args.db}"
    print(f"{name}: {args.houses:,} houses …", flush=True)
    setup = _child("setup", args)
    print(f"  setup: migrate {setup['migrate_s']} s, seed {setup['seed_s']} s", flush=True)
    ceiling = _child("ceiling", args)
    print(
        f"  ceiling ({'COPY' if args.db == 'pg' else 'executemany'}): "
        f"{ceiling['bills']:,} bills + {ceiling['lines']:,} lines + {ceiling['entries']:,} "
        f"ledger rows in {ceiling['insert_s']} s ({ceiling['bills_per_s']:,} bills/s; "
        f"rows built beforehand in {ceiling['build_s']} s)",
        flush=True,
    )
    run = _child("run", args)
    target = TARGETS[args.db]
    ratio = ceiling["insert_s"] / run["commit_s"] if run["commit_s"] else 0
    print(
        f"  run: dry run {run['preview_s']} s; commit {run['commit_s']} s "
        f"({run['bills_per_s']:,} bills/s, {run['bills']:,} bills, {run['lines']:,} lines), "
        f"peak RSS {run['peak_rss_mb']} MB; commit CPU: Python {run['commit_cpu_python_s']} s, "
        f"server {run['commit_cpu_server_s']} s",
        flush=True,
    )
    verdict = (
        f"  target: commit ≤ {target:.0f} s → {'met' if run['commit_s'] <= target else 'MISSED'}; "
        f"RSS ≤ {RSS_TARGET_MB} MB → "
        f"{'met' if run['peak_rss_mb'] <= RSS_TARGET_MB else 'MISSED'}; "
        f"ceiling/commit = {ratio:.2f}"
    )
    print(verdict, flush=True)
    passed = run["commit_s"] <= target and run["peak_rss_mb"] <= RSS_TARGET_MB
    result = {
        "value": run["bills_per_s"],
        "unit": "bills/s",
        "ceiling_value": ceiling["bills_per_s"],
        "ceiling_description": f"{'COPY' if args.db == 'pg' else 'executemany'} of the same rows",
        "passed": passed,
        "summary": (
            f"commit {run['commit_s']} s (target ≤ {target:.0f} s), "
            f"peak RSS {run['peak_rss_mb']} MB (≤ {RSS_TARGET_MB}), "
            f"{run['bills']:,} bills → {'met' if passed else 'MISSED'}"
        ),
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"scenario": name, "setup": setup, "ceiling": ceiling, "run": run}, indent=2)
        )


if __name__ == "__main__":
    main()
