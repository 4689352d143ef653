"""`heatdesk runperiodic [--loop] [--interval 60]`: run the periodic jobs that are due.

Once by default (for cron or a systemd timer; exits 1 when a job failed), or every interval
until SIGINT/SIGTERM with --loop (the embedded runner started by `heatdesk serve`).
"""

import logging
import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from heatdesk.core import periodic

logger = logging.getLogger("heatdesk.periodic")


class Command(BaseCommand):
    help = "运行到期的定时任务；--loop 时每隔 --interval 秒运行一次，直到收到 SIGINT/SIGTERM。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="一直运行，直到收到停止信号。")
        parser.add_argument(
            "--interval", type=float, default=60.0, help="--loop 时两次检查之间的秒数（默认 60）。"
        )

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        if interval <= 0:
            raise CommandError("--interval 必须大于 0。")
        periodic.autodiscover()
        if not loop:
            failed = [o for o in self._run_once() if not o.ok]
            if failed:
                raise CommandError("定时任务失败：" + "，".join(o.name for o in failed))
            return
        self._loop(interval)

    def _run_once(self, *, quiet: bool = False) -> list[periodic.JobOutcome]:
        outcomes = periodic.jobs_run_due()
        for outcome in outcomes:
            if outcome.ok and quiet and not outcome.result:
                continue  # the runner's every-minute "nothing to do" stays out of the log
            if outcome.ok:
                self.stdout.write(f"已运行 {outcome.name}：{outcome.result}")
            else:
                self.stderr.write(f"失败 {outcome.name}：{outcome.error}")
        return outcomes

    def _loop(self, interval: float) -> None:
        stop = {"signal": 0}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop["signal"] = signum

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        logger.info("periodic runner started (every %ss)", interval)
        while not stop["signal"]:
            close_old_connections()
            try:
                self._run_once(quiet=True)
            except Exception:  # the database may be briefly away; try again next round
                logger.exception("periodic runner round failed")
            close_old_connections()
            deadline = time.monotonic() + interval
            while not stop["signal"] and time.monotonic() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        logger.info("periodic runner stopped (%s)", signal.Signals(stop["signal"]).name)
