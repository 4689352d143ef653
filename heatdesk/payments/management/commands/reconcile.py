"""`heatdesk reconcile --provider wechatpay --date 2026-11-23`: reconcile one provider's day now
(the periodic job does yesterday by itself) and print the report's status and totals."""

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Reconcile one provider's bill of one Beijing day (default: yesterday)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, choices=["wechatpay", "alipay", "counter"])
        parser.add_argument("--date", help="YYYY-MM-DD (Beijing); default yesterday")

    def handle(self, *args: Any, **options: Any) -> None:
        from heatdesk.payments.services.reconciliation import reconcile_day

        try:
            day = (
                dt.date.fromisoformat(options["date"])
                if options["date"]
                else clock.local_today() - dt.timedelta(days=1)
            )
        except ValueError as exc:
            raise CommandError(f"--date: {exc}") from exc
        try:
            report = reconcile_day(provider=options["provider"], day=day)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        open_items = report.items.filter(state="open").count()
        self.stdout.write(
            f"{report.provider} {report.bill_date}: {report.status} "
            f"({open_items} open items){' — ' + report.error if report.error else ''}"
        )
        self.stdout.write(json.dumps(report.totals, ensure_ascii=False, default=str))
