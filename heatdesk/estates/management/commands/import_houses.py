"""`heatdesk import_houses FILE [--dry-run] [--by USERNAME]`: import the house list.

Prints the report; exits 1 when the file cannot be used or any row is wrong (then nothing is
written).
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatdesk.accounts.models import User
from heatdesk.core.errors import ApplicationError
from heatdesk.estates import tabular
from heatdesk.estates.import_plan import ImportReport
from heatdesk.estates.imports import houses_import


class Command(BaseCommand):
    help = "从 .xlsx 或 .csv 文件导入小区与房屋：先检查整份文件，全部正确才写入。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="房屋清单文件（.xlsx 或 .csv）。")
        parser.add_argument("--dry-run", action="store_true", help="只检查并统计，不写入。")
        parser.add_argument("--by", default="", help="记入审计日志的员工用户名（可选）。")

    def handle(self, *args: Any, file: str, dry_run: bool, by: str, **options: Any) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"文件不存在：{file}", returncode=1)
        staff = None
        if by:
            staff = User.objects.filter(username=by, is_staff=True).first()
            if staff is None:
                raise CommandError(f"没有用户名为 {by} 的员工。", returncode=1)
        try:
            tabular.check_size(path.stat().st_size)  # before reading a huge file into memory
            report = houses_import(
                file_name=path.name, data=path.read_bytes(), imported_by=staff, dry_run=dry_run
            )
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=1) from None
        self.stdout.write("\n".join(report_lines(report)))
        if not report.ok:
            raise CommandError(f"发现 {len(report.errors)} 处错误，未导入任何数据。", returncode=1)


def report_lines(report: ImportReport) -> list[str]:
    lines = [f"文件：{report.file_name}，共 {report.total_rows} 行数据。"]
    if not report.ok:
        lines += [f"第{e.row}行【{e.column}】{e.message}" for e in report.errors]
        return lines
    verb = "将" if report.dry_run else "已"
    lines.append(
        f"{verb}新增 {report.created} 户，{verb}更新 {report.updated} 户，"
        f"{report.unchanged} 户无变化；{verb}新建小区 {report.communities_created} 个、"
        f"楼栋 {report.buildings_created} 个、单元 {report.units_created} 个。"
    )
    if report.dry_run:
        lines.append("试运行：未写入任何数据。")
    return lines
