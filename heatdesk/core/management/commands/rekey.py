"""`heatdesk rekey [--batch-size 500]`: re-encrypt personal data under the active key.

Run after putting a new key first in FIELD_ENCRYPTION_KEYS (keep the old one listed until this
has finished). Safe to run again: values already under the active key are left alone.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatdesk.core import crypto
from heatdesk.core.rekey import rekey_all


class Command(BaseCommand):
    help = "用当前启用的密钥重新加密所有加密字段（可重复运行）。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="每批处理的行数（默认 500）。"
        )

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size <= 0:
            raise CommandError("--batch-size 必须大于 0。")
        active = crypto.keyring().active_kid
        try:
            result = rekey_all(batch_size=batch_size)
        except crypto.DecryptionError as exc:
            raise CommandError(f"无法解密：{exc}") from exc
        for label in sorted(result.rekeyed):
            self.stdout.write(
                f"{label}: rekeyed {result.rekeyed[label]}, "
                f"already current {result.current[label]}, "
                f"changed meanwhile {result.skipped[label]}"
            )
        self.stdout.write(f"active key {active}: {result.total_rekeyed} values re-encrypted")
