"""peer-django-appointment: booking-free's load against the `django-appointment` package as a peer
(bench/peer/: its own minimal Django project and database on the same PostgreSQL, served by the
same granian settings from its own venv), and peer-django-appointment-contention, booking-
contention's load against it. Picked alone with --scenario, the first also runs booking-free,
booking-contention and the contention variant in the same run, so the figures sit side by side.

After each load, `bench.peer.data count` reads the appointments back: the double bookings (an
appointment overlapping an earlier one of the same staff member and day) are the figure, printed
as `after:` and kept in the measurement's description. The package is installed only into
var/bench-peer-venv from bench/requirements-peer.txt, (re)built when that file changes.
"""

import dataclasses
import hashlib
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import pg
from bench.scenarios import Context, HttpLoad, register
from bench.server import ROOT, Server, ServerConfig, running

PEER_VENV = ROOT / "var" / "bench-peer-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
REQUIREMENTS = ROOT / "bench" / "requirements-peer.txt"
PATH = "/peer/appointments"


def ensure_venv() -> None:
    """The peer's venv, built again only when bench/requirements-peer.txt has changed."""
    stamp = PEER_VENV / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PEER_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"   building {PEER_VENV.relative_to(ROOT)} from {REQUIREMENTS.relative_to(ROOT)}")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(PEER_VENV)], check=True, timeout=300)
    subprocess.run(
        [str(PEER_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["-r", str(REQUIREMENTS)],
        check=True,
        timeout=900,
    )
    stamp.write_text(wanted)


def _target() -> pg.PgTarget:
    from bench.run import DEFAULT_DATABASE_URL

    bench = pg.PgTarget.parse(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    return bench.with_name(f"{bench.name}_peer")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANIAN_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.peer.settings",
        DATABASE_URL=_target().url,
        SECRET_KEY=secrets.token_urlsafe(48),
        PYTHONPATH=str(ROOT),
    )
    return env


def _peer(*args: str, tag: str) -> str:
    """`python -m <args>` in the peer venv; the line tagged `tag`, or exit with the output."""
    done = subprocess.run(
        [str(PEER_PYTHON), "-m", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    found = [x[len(tag) + 1 :] for x in done.stdout.splitlines() if x.startswith(tag + " ")]
    if done.returncode != 0 or (tag and not found):
        raise SystemExit(
            f"peer `{' '.join(args)}` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    return found[0] if found else ""


@contextmanager
def serve(ctx: Context, config: ServerConfig) -> Iterator[Server]:
    """A fresh peer database with its data, and the peer server on the next port."""
    ensure_venv()
    pg.recreate_database(_target())
    # django-appointment ships no migrations: its tables come from --run-syncdb, after the
    # migrated apps' tables (auth_user) that they point at.
    _peer("django", "migrate", "--noinput", "-v", "0", tag="")
    _peer("django", "migrate", "--run-syncdb", "--noinput", "-v", "0", tag="")
    prepared = _peer("bench.peer.data", "prepare", "--workdir", str(ctx.workdir), tag="PREPARED")
    print(f"   peer: {prepared}")
    peer_config = dataclasses.replace(config, port=config.port + 1)
    with running(
        peer_config,
        env=_env(),
        log_path=ctx.workdir / "peer-server.log",
        probe="/peer/hello",
        app="bench.peer.wsgi:application",
        python=PEER_PYTHON,
    ) as server:
        yield server


def count(ctx: Context) -> str:
    return _peer("bench.peer.data", "count", "--workdir", str(ctx.workdir), tag="PEER")


def _data(ctx: Context) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ctx.workdir / "peer.json").read_text())
    return data


def _book(ctx: Context, body: dict[str, Any]) -> tuple[int, Any]:
    url = ctx.base_url + PATH
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("bench traffic stays on 127.0.0.1")
    request = urllib.request.Request(  # noqa: S310 - local http only
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _check_one_slot(ctx: Context, *, staff: int, service: int, name: str) -> None:
    """Two clients, one after the other, at the last day's first slot: 201, then 409."""
    data = _data(ctx)
    day = data["free_days"] - 1
    last = _check_day(data, day)
    answers = [
        _book(
            ctx,
            {
                "staff": staff,
                "service": service,
                "client": data["first_client"] + n,
                "date": last,
                "start_time": "00:00",
            },
        )
        for n in range(2)
    ]
    if [a[0] for a in answers] != [201, 409] or answers[1][1].get("code") != "slot_taken":
        raise RuntimeError(f"{name}: two clients at one slot answered {answers!r}")


def _check_day(data: dict[str, Any], day: int) -> str:
    import datetime as dt

    return (dt.date.fromisoformat(data["first_day"]) + dt.timedelta(days=day)).isoformat()


def _check_free(ctx: Context) -> None:
    data = _data(ctx)
    staff, service = data["free_staff"][0], data["free_services"][0]
    _check_one_slot(ctx, staff=staff, service=service, name="peer-django-appointment")


def _check_contention(ctx: Context) -> None:
    data = _data(ctx)
    staff, service = data["contention_staff"], data["contention_service"]
    _check_one_slot(ctx, staff=staff, service=service, name="peer-django-appointment-contention")


def _free_args(ctx: Context) -> tuple[str, ...]:
    data = _data(ctx)
    return (
        str(ctx.workdir / "peer-free.offset"),
        ",".join(map(str, data["free_staff"])),
        ",".join(map(str, data["free_services"])),
        str(data["first_client"]),
        str(data["clients"]),
        str(data["first_day_epoch"]),
        str(data["starts_per_day"]),
        str(data["free_days"] - 1),  # the last day is the check's
    )


def _contention_args(ctx: Context) -> tuple[str, ...]:
    data = _data(ctx)
    return (
        str(ctx.workdir / "peer-contention.offset"),
        str(data["contention_staff"]),
        str(data["contention_service"]),
        str(data["first_client"]),
        str(data["clients"]),
        str(data["first_day_epoch"]),
        str(data["starts_per_day"]),
        str(data["attempts_per_slot"]),
        str(data["free_days"] - 1),
    )


register(
    HttpLoad(
        name="peer-django-appointment",
        description="django-appointment 3.12.0: POST /peer/appointments, each its own free slot",
        path=PATH,
        script="peer_free.lua",
        script_args=_free_args,
        check=_check_free,
        ceiling="row-insert",
        connections=16,  # as booking-free
        own_server=serve,
        after=count,
        with_scenarios=("booking-free", "booking-contention", "peer-django-appointment-contention"),
    )
)

register(
    HttpLoad(
        name="peer-django-appointment-contention",
        description="django-appointment 3.12.0: all clients on one staff member's slot at a time",
        path=PATH,
        script="peer_contention.lua",
        script_args=_contention_args,
        check=_check_contention,
        ceiling="row-insert",
        connections=16,  # as booking-contention
        own_server=serve,
        after=count,
    )
)
