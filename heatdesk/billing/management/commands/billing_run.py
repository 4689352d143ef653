"""`heatdesk billing_run SEASON [--dry-run] [--commit RUN_ID]`: bill a season from the shell.

Without --commit it starts a run and previews it (the dry run); with --commit it commits that
previewed run, or resumes it from its cursor if it was interrupted. Either way this process
does the work in the foreground and draws a progress bar.
"""

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatdesk.accounts.models import User
from heatdesk.billing import run_plan
from heatdesk.billing.models import BillingRun, HeatingSeason
from heatdesk.billing.models.run import DEFAULT_BATCH_SIZE
from heatdesk.billing.selectors.runs import run_totals
from heatdesk.billing.services import runs
from heatdesk.core.errors import ApplicationError
from heatdesk.core.money import format_fen

BAR_WIDTH = 30


def progress_bar(run: BillingRun, *, started: float) -> str:
    """[##########--------------------]  33%  1,000/3,000 户  已开账 990  12.3s"""
    percent = run.progress_percent
    filled = BAR_WIDTH * percent // 100
    done = run.result if run.phase == BillingRun.Phase.COMMIT else run.preview
    billed = done.get("counts", {}).get(run_plan.BILL, 0)
    verb = "已开账" if run.phase == BillingRun.Phase.COMMIT else "可开账"
    return (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d}%  "
        f"{run.processed:,}/{run.total:,} 户  {verb} {billed:,}  {time.monotonic() - started:.1f}s"
    )


class Command(BaseCommand):
    help = "为采暖季开账：先 --dry-run 预览，再 --commit RUN_ID 提交（中断后同一命令可续跑）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("season", help="采暖年度，例如 2026-2027")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--dry-run", action="store_true", help="预览（默认）：只统计，不写账单")
        mode.add_argument("--commit", metavar="RUN_ID", help="提交（或续跑）已预览的开账批次")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument("--user", help="以哪位工作人员的名义开账（用户名，记入审计日志）")

    def handle(self, *args: Any, **options: Any) -> None:
        season = HeatingSeason.objects.filter(code=options["season"]).first()
        if season is None:
            raise CommandError(f"未找到采暖季 {options['season']}。")
        by = None
        if options["user"]:
            by = User.objects.filter(username=options["user"], is_staff=True).first()
            if by is None:
                raise CommandError(f"未找到工作人员 {options['user']}。")
        try:
            if options["commit"]:
                run = self._commit(season=season, public_id=options["commit"], by=by)
            else:
                run = runs.billing_run_start(
                    season=season, by=by, batch_size=options["batch_size"], background=False
                )
                self.stdout.write(f"开账批次 {run.public_id}：预览 {run.total:,} 户")
            run = self._process(run)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self._summary(run)

    def _commit(self, *, season: HeatingSeason, public_id: str, by: User | None) -> BillingRun:
        run = BillingRun.objects.filter(public_id=public_id, season=season).first()
        if run is None:
            raise CommandError(f"{season.code}采暖季没有开账批次 {public_id}。")
        if run.status == BillingRun.Status.PREVIEWED:
            self.stdout.write(f"开账批次 {run.public_id}：提交 {run.total:,} 户")
            return runs.billing_run_commit(run=run, by=by, background=False)
        self.stdout.write(f"开账批次 {run.public_id}：从第 {run.processed:,} 户后继续")
        return runs.billing_run_resume(run=run, by=by, background=False)

    def _process(self, run: BillingRun) -> BillingRun:
        started = time.monotonic()
        interactive = sys.stdout.isatty()

        def draw(current: BillingRun) -> None:
            end = "\r" if interactive else "\n"
            self.stdout.write(progress_bar(current, started=started), ending=end)
            self.stdout.flush()

        draw(run)
        run = runs.billing_run_process(run_id=run.pk, on_batch=draw)
        self.stdout.write("")
        return run

    def _summary(self, run: BillingRun) -> None:
        tally = run.result if run.phase == BillingRun.Phase.COMMIT else run.preview
        counts = tally.get("counts", {})
        self.stdout.write(f"状态：{run.get_status_display()}")
        if run.error:
            self.stdout.write(self.style.ERROR(f"原因：{run.error}"))
        for key, label in run_plan.COUNT_LABELS.items():
            if key in counts:
                value = counts[key]
                shown = format_fen(value) if key == "amount_fen" else f"{value:,}"
                self.stdout.write(f"  {label}：{shown}")
        for row in run_totals(run=run, tally=tally):
            self.stdout.write(
                f"  {row['community']} {row['usage_label']}：{row['houses']:,} 户 "
                f"{format_fen(row['amount_fen'])}"
            )
        for kind, samples in tally.get("anomalies", {}).items():
            self.stdout.write(f"  {run_plan.ANOMALIES.get(kind, kind)}（示例）：")
            for sample in samples[:10]:
                self.stdout.write(f"    {sample['account_no']} {sample['address']}")
        if run.status == BillingRun.Status.PREVIEWED:
            self.stdout.write(
                f"确认无误后提交：heatdesk billing_run {run.season.code} --commit {run.public_id}"
            )
        elif run.status in {BillingRun.Status.FAILED, *BillingRun.ACTIVE}:
            self.stdout.write(
                f"续跑：heatdesk billing_run {run.season.code} --commit {run.public_id}"
            )
