"""`heatdesk demo`: load the demo city, residents and staff logins once (never in production)."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from heatdesk.estates import demo


class Command(BaseCommand):
    help = "加载演示数据（小区、房屋、演示居民和各角色员工账号）；已加载时不做任何改动。"

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("生产环境（HEATDESK_ENV=production）不能加载演示数据。")
        result = demo.demo_load()
        if result.created:
            self.stdout.write(
                f"演示数据已加载：{result.communities} 个小区，{result.houses} 户，"
                f"{result.residents} 位演示居民，{len(result.staff_created)} 个员工账号。"
            )
            for username in result.staff_kept:
                self.stdout.write(f"用户 {username} 已存在，未修改其密码和角色。")
        else:
            self.stdout.write("演示数据已存在，未做改动。")
        self.stdout.write("\n".join(demo.demo_logins()))
