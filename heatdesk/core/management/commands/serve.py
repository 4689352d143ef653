"""`heatdesk serve [--port N]`: the embedded supervisor behind `make run`.

Starts the web server (granian, WSGI), the task worker (`db_worker`) and the periodic runner
(`runperiodic --loop`) as child processes, waits until /healthz answers, prints the URLs and the
demo logins, and keeps them running. SIGINT (Ctrl-C) or SIGTERM stops every child (SIGTERM,
then SIGKILL after a grace period) and exits 0; a child that dies on its own stops the others
and makes serve exit non-zero.

Each child gets a process group of its own, so a Ctrl-C in the terminal reaches serve alone and
the shutdown happens in one order; on Linux each child is also told to stop if serve is killed.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    process: "subprocess.Popen[bytes]"

    def alive(self) -> bool:
        return self.process.poll() is None


def _stop_with_parent() -> Any:
    """A preexec_fn: the child gets SIGTERM when serve dies, even by SIGKILL (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    parent_pid = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # serve died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class Command(BaseCommand):
    help = "启动 HeatDesk（Web 服务、后台任务进程和定时任务进程），Ctrl-C 停止。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="端口（默认取 PORT，否则 8000）")
        parser.add_argument(
            "--ready-timeout", type=float, default=60.0, help="等待 /healthz 就绪的秒数。"
        )

    def handle(self, *args: Any, port: int | None, ready_timeout: float, **options: Any) -> None:
        port = port or int(os.environ.get("PORT") or 8000)
        if not 0 < port < 65536:
            raise CommandError("端口必须在 1–65535 之间。")
        self.stop_signal = 0
        self.force = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)

        env = os.environ.copy()
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        env["PYTHONUNBUFFERED"] = "1"
        preexec = _stop_with_parent()
        children: list[Child] = []
        failure = ""
        try:
            for name, argv in self._commands(port):
                process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    argv, cwd=settings.BASE_DIR, env=env, process_group=0, preexec_fn=preexec
                )
                children.append(Child(name, process))
            failure = self._wait_ready(children, port, ready_timeout)
            if not failure and not self.stop_signal:
                self._print_banner(port)
                failure = self._watch(children)
        finally:
            self._stop_all(children)
        if failure:
            raise CommandError(failure)
        self.stdout.write("HeatDesk 已停止。")

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal:
            # A second Ctrl-C while stopping: do not wait for the grace period.
            self.force = True
        self.stop_signal = signum

    def _commands(self, port: int) -> list[tuple[str, list[str]]]:
        python = sys.executable
        manage = [python, "-m", "heatdesk.manage"]
        static_root = Path(settings.STATIC_ROOT)
        static_root.mkdir(parents=True, exist_ok=True)
        return [
            (
                "web",
                [
                    python,
                    "-m",
                    "granian",
                    "--interface",
                    "wsgi",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                    "--blocking-threads",
                    "4",
                    "--no-access-log",
                    "--working-dir",
                    str(settings.BASE_DIR),
                    "--static-path-route",
                    "/static",
                    "--static-path-mount",
                    str(static_root),
                    "heatdesk.config.wsgi:application",
                ],
            ),
            (
                "worker",
                [*manage, "db_worker", "--queue-name", "*", "--no-reload", "--no-startup-delay"],
            ),
            ("periodic", [*manage, "runperiodic", "--loop", "--interval", "60"]),
        ]

    def _died(self, children: list[Child]) -> str:
        for child in children:
            if not child.alive():
                return f"子进程 {child.name} 意外退出（退出码 {child.process.returncode}）。"
        return ""

    def _wait_ready(self, children: list[Child], port: int, timeout: float) -> str:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + timeout
        while not self.stop_signal:
            died = self._died(children)
            if died:
                return died
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our URL
                    if response.status == 200:
                        return ""
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                return f"{timeout:.0f} 秒内 {url} 未就绪。"
            time.sleep(POLL_SECONDS)
        return ""

    def _watch(self, children: list[Child]) -> str:
        while not self.stop_signal:
            died = self._died(children)
            if died:
                return died
            time.sleep(POLL_SECONDS)
        return ""

    def _stop_all(self, children: list[Child]) -> None:
        for child in reversed(children):
            if child.alive():
                child.process.terminate()
        deadline = time.monotonic() + GRACE_SECONDS
        while any(c.alive() for c in children) and time.monotonic() < deadline and not self.force:
            time.sleep(POLL_SECONDS / 2)
        for child in children:
            if child.alive():
                self.stderr.write(
                    f"子进程 {child.name} 未在 {GRACE_SECONDS:.0f} 秒内退出，强制结束。"
                )
            # Kill the whole group: it also takes any grandchild left behind (a web worker).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()

    def _print_banner(self, port: int) -> None:
        base = f"http://127.0.0.1:{port}"
        lines = [
            "",
            "HeatDesk 已启动：",
            f"  首页            {base}/",
            f"  API 文档        {base}/api/v1/docs",
            f"  管理后台        {base}/admin/",
            f"  员工控制台      {base}/console/",
        ]
        if settings.SANDBOX:
            lines.append(f"  沙箱短信收件箱  {base}/sandbox/sms/")
        lines += self._demo_logins()
        lines += ["按 Ctrl-C 停止。", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _demo_logins(self) -> list[str]:
        if settings.PRODUCTION:
            return []
        # The demo lives in estates; imported here only, so core keeps no import of a domain app.
        from heatdesk.estates import demo

        if not demo.demo_loaded():
            return []
        return ["演示账号：", *demo.demo_logins()]
