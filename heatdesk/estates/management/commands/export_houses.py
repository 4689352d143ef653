"""`heatdesk export_houses FILE [--format csv|xlsx] [--community CODE …] [--by USERNAME]`."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatdesk.accounts.models import User
from heatdesk.core.errors import ApplicationError
from heatdesk.estates.exports import FORMATS, houses_export


class Command(BaseCommand):
    help = "把房屋清单导出为 .xlsx 或 .csv（与导入格式相同，可直接改后再导入）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="要写入的文件。")
        parser.add_argument(
            "--format", choices=FORMATS, default=None, help="默认按文件扩展名，否则 xlsx。"
        )
        parser.add_argument(
            "--community", action="append", default=None, help="只导出该小区编码（可重复）。"
        )
        parser.add_argument("--by", default="", help="记入审计日志的员工用户名（可选）。")

    def handle(
        self,
        *args: Any,
        file: str,
        format: str | None,
        community: list[str] | None,
        by: str,
        **options: Any,
    ) -> None:
        path = Path(file)
        fmt = format or ("csv" if path.suffix.lower() == ".csv" else "xlsx")
        staff = None
        if by:
            staff = User.objects.filter(username=by, is_staff=True).first()
            if staff is None:
                raise CommandError(f"没有用户名为 {by} 的员工。", returncode=1)
        try:
            data = houses_export(fmt=fmt, community_codes=community, exported_by=staff)
        except ApplicationError as exc:
            raise CommandError(exc.message, returncode=1) from None
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"无法写入文件 {file}：{exc.strerror}", returncode=1) from None
        self.stdout.write(f"已导出到 {path}（{fmt}，{len(data)} 字节）。")
