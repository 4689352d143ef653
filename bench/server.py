"""The real server: granian WSGI in its own process group, stopped whatever happens."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServerConfig:
    workers: int
    threads: int  # granian blocking threads per worker = DB connections per worker
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return (
            f"granian --interface wsgi --workers {self.workers} "
            f"--blocking-threads {self.threads} --no-access-log"
        )


@dataclass
class Server:
    config: ServerConfig
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pgid(self) -> int:
        return self.process.pid  # start_new_session: the leader's pid is the group id

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def http_get(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("bench traffic stays on 127.0.0.1")
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - local http only
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(
    url: str, *, status: int = 200, headers: dict[str, str] | None = None
) -> object | None:
    """GET `url` and insist on `status`; the JSON body for a 200, else None."""
    got, body = http_get(url, headers=headers)
    if got != status:
        raise RuntimeError(f"GET {url} answered {got}, expected {status}: {body[:200]!r}")
    return json.loads(body) if got == 200 else None


def _wait_ready(server: Server, *, probe: str, max_seconds: float) -> None:
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{server.log_tail()}")
        try:
            status, _ = http_get(server.config.base_url + probe)
            if status == 200:
                return
        except OSError:
            pass  # not listening yet: try again until the deadline
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer {probe} within {max_seconds:.0f} s")


def _stop(server: Server) -> None:
    """SIGTERM to the whole process group, then SIGKILL after a bounded wait."""
    if server.process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.pgid, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running(
    config: ServerConfig,
    *,
    env: dict[str, str],
    log_path: Path,
    probe: str,
    app: str = "heatdesk.config.wsgi:application",
    python: Path | None = None,
) -> Iterator[Server]:
    """Start granian and wait until `probe` answers 200; stop its process group on exit.
    `app` and `python` (whose venv's granian serves it) let a peer run in its own venv."""
    command = [
        str(Path(python or sys.executable).parent / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(config.port),
        "--workers",
        str(config.workers),
        "--blocking-threads",
        str(config.threads),
        "--no-access-log",
        "--log-level",
        "warning",
        "--working-dir",
        str(ROOT),
        app,
    ]
    if not Path(command[0]).exists():
        command[0] = "granian"
    log: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(config=config, process=process, log_path=log_path)
    try:
        _wait_ready(server, probe=probe, max_seconds=60)
        yield server
    finally:
        _stop(server)
        log.close()
