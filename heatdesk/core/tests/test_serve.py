"""The embedded supervisor and the periodic loop, run as real processes on a temporary SQLite."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

MANAGE = [sys.executable, "-m", "heatdesk.manage"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An environment for child processes: real settings, a migrated SQLite file of its own."""
    root = tmp_path_factory.mktemp("serve")
    db_path = root / "heatdesk.sqlite3"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PORT", "PUBLIC_BASE_URL", "DEBUG", "TASKS_BACKEND", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="heatdesk.config.settings",
        HEATDESK_ENV="development",
        DATABASE_URL=f"sqlite:///{db_path}",
        HEATDESK_VAR_DIR=str(root),
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(  # noqa: S603 - our own command line
        [*MANAGE, "migrate", "--noinput", "-v", "0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=180,
    )
    return {"root": root, "db": db_path, "env": env}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(argv: list[str], site: dict, log_name: str) -> tuple[subprocess.Popen, Path]:
    log = site["root"] / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            argv,
            cwd=settings.BASE_DIR,
            env=site["env"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def stop_for_good(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def proc_state(pid: int) -> str | None:
    """The process's state letter, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid: int) -> bool:
    return proc_state(pid) not in {None, "Z", "X"}


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            found[child] = cmdline.replace(b"\0", b" ").decode(errors="replace")
            todo.append(child)
    return found


def wait_healthy(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"/healthz never answered:\n{log.read_text()}")


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_serve_answers_and_stops_every_child_on_sigint(site):
    port = free_port()
    process, log = start([*MANAGE, "serve", "--port", str(port)], site, "serve-sigint.log")
    try:
        health = wait_healthy(process, port, log)
        assert wait_until(lambda: "按 Ctrl-C 停止" in log.read_text(), 10), log.read_text()
        tree = descendants(process.pid)
        commands = " | ".join(tree.values())
        assert "granian" in commands
        assert "db_worker" in commands
        assert "runperiodic --loop" in commands
        assert len(tree) >= 5  # granian + its 2 workers, the task worker, the periodic runner

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)

        assert health == {"status": "ok"}
        assert code == 0, log.read_text()
        assert wait_until(lambda: not any(running(pid) for pid in tree), 5), [
            cmd for pid, cmd in tree.items() if running(pid)
        ]
        text = log.read_text()
        assert f"http://127.0.0.1:{port}/api/v1/docs" in text
        assert "HeatDesk 已停止。" in text
    finally:
        stop_for_good(process)


def test_serve_stops_the_rest_and_fails_when_a_child_dies(site):
    port = free_port()
    process, log = start([*MANAGE, "serve", "--port", str(port)], site, "serve-crash.log")
    try:
        wait_healthy(process, port, log)
        tree = descendants(process.pid)
        worker = next(pid for pid, cmd in tree.items() if "db_worker" in cmd)

        os.kill(worker, signal.SIGKILL)
        code = process.wait(timeout=20)

        assert code != 0
        assert "子进程 worker 意外退出" in log.read_text()
        assert wait_until(lambda: not any(running(pid) for pid in tree), 5)
    finally:
        stop_for_good(process)


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_runperiodic_loop_runs_the_jobs_and_exits_cleanly_on_a_signal(site, stop_with):
    def job_rows() -> int:
        with sqlite3.connect(site["db"]) as db:
            return int(db.execute("SELECT count(*) FROM core_periodicjobstate").fetchone()[0])

    with sqlite3.connect(site["db"]) as db:
        db.execute("DELETE FROM core_periodicjobstate")
    process, log = start(
        [*MANAGE, "runperiodic", "--loop", "--interval", "1"], site, f"loop-{stop_with}.log"
    )
    try:
        assert wait_until(lambda: job_rows() >= 4, 30), log.read_text()

        process.send_signal(stop_with)
        code = process.wait(timeout=10)

        assert code == 0, log.read_text()
        assert "periodic runner stopped" in log.read_text()
    finally:
        stop_for_good(process)


def test_wsgi_module_freezes_the_start_up_heap(site):
    """Importing the WSGI application loads every URLconf and freezes what start-up made, so a
    full garbage collection in a request no longer walks it; the app still answers."""
    probe = (
        "import gc; assert gc.get_freeze_count() == 0\n"
        "from heatdesk.config.wsgi import application\n"
        "import sys\n"
        "print(gc.get_freeze_count(), 'heatdesk.bookings.api' in sys.modules)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe],
        cwd=settings.BASE_DIR,
        env=site["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen, api_loaded = done.stdout.split()
    assert int(frozen) > 50_000
    assert api_loaded == "True"
