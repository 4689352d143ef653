"""`heatdesk demo`: load the demo city, residents, staff logins, bookable services and a billed
heating season once (never in production). A second run finds everything there and changes
nothing; a run that was interrupted finishes what is missing."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from heatdesk.accounts.models import User
from heatdesk.billing.demo import billing_demo_load
from heatdesk.bookings.demo import bookings_demo_load
from heatdesk.core.money import format_fen
from heatdesk.estates import demo

# The admin first: the login that would set up services in a real company.
STAFF = [demo.DEMO_ADMIN, *(s.username for s in demo.DEMO_STAFF if s.username != demo.DEMO_ADMIN)]


class Command(BaseCommand):
    help = (
        "加载演示数据（小区、房屋、演示居民、各角色员工账号、可预约的服务、已开账的采暖季）；"
        "已加载时不做任何改动。"
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("生产环境（HEATDESK_ENV=production）不能加载演示数据。")
        started = time.monotonic()
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
        # The catalog's changes are audited under a staff login: the demo admin, or another
        # demo login if a user of that name was there before and is not staff.
        staff = {u.username: u for u in User.objects.filter(is_staff=True, username__in=STAFF)}
        actor = next((staff[name] for name in STAFF if name in staff), None)
        if actor is None:
            raise CommandError("没有可用的演示员工账号，无法设置预约服务。")
        bookings = bookings_demo_load(actor=actor)
        billing = billing_demo_load()
        if bookings.created or billing.created:
            self.stdout.write(
                f"演示业务数据：采暖季 {'、'.join(billing.seasons)}，"
                f"本季账单 {billing.bills_issued} 张（合计 {format_fen(billing.billed_fen)}），"
                f"往年欠费 {billing.arrears} 户，柜台已缴 {billing.payments} 笔；"
                f"可预约服务 {bookings.services} 项。"
                f"用时 {time.monotonic() - started:.1f} 秒。"
            )
        self.stdout.write("\n".join(demo.demo_logins()))
