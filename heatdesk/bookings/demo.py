"""Demo bookings for `heatdesk demo`: what a resident can book, who does it, and when.

Three home visits done by technician teams (each team serves some 小区) and one service-hall
errand at the counter windows, with weekly working hours (Monday–Saturday for teams, with a
lunch break; weekdays and Saturday morning for the hall) and the public holidays, all made
through the staff catalog services, so the audit log shows who set them up. Slots are worked
out from these rules when someone looks, so free times exist for the next two weeks from the
moment the demo is loaded. Anything already there is left as it is.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from heatdesk.accounts.models import User
from heatdesk.bookings.catalog import holidays_set, plan_set, resource_save, service_save
from heatdesk.bookings.models import CalendarDay, Resource, Service

T = dt.time


@dataclass(frozen=True)
class TeamPlan:
    code: str
    name: str
    communities: tuple[str, ...]
    members: tuple[str, ...]


TEAMS = (
    TeamPlan("team-north", "维修一班（锦绣花园、阳光新城）", ("JXHY", "YGXC"), ("technician",)),
    TeamPlan("team-south", "维修二班（幸福里、翠湖名苑）", ("XFLI", "CHMY"), ()),
    TeamPlan("team-all", "维修三班（机动）", ("JXHY", "YGXC", "XFLI", "CHMY"), ()),
)
WINDOWS = (
    ("window-1", "营业厅1号窗口"),
    ("window-2", "营业厅2号窗口"),
)
HALL = "供热公司客服中心一楼营业厅（新华区建设北路200号）"

TEAM_HOURS = [
    (weekday, starts, ends)
    for weekday in range(6)
    for starts, ends in ((T(8, 30), T(12, 0)), (T(13, 30), T(17, 30)))
]
WINDOW_HOURS = [
    *[
        (weekday, starts, ends)
        for weekday in range(5)
        for starts, ends in ((T(8, 30), T(11, 30)), (T(13, 30), T(17, 0)))
    ],
    (5, T(9, 0), T(12, 0)),
]

VISIT_RULES: dict[str, Any] = {
    "kind": Service.Kind.VISIT,
    "buffer_before_minutes": 15,
    "buffer_after_minutes": 15,
    "slot_interval_minutes": 30,
    "capacity_per_slot": 1,
    "min_notice_minutes": 120,
    "max_days_ahead": 14,
    "cancel_deadline_minutes": 120,
    "reschedule_deadline_minutes": 120,
    "requires_house": True,
    "max_active_per_house": 1,
    "hold_minutes": 10,
    "reminder_hours_before": 24,
}
SERVICES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "home-repair",
        {
            **VISIT_RULES,
            "name": "上门维修",
            "description": (
                "暖气不热、漏水、跑风等问题，维修人员上门检修。请在家等候，并保持电话畅通。"
            ),
            "duration_minutes": 60,
        },
    ),
    (
        "temperature-check",
        {
            **VISIT_RULES,
            "name": "入户测温",
            "description": "室温偏低时预约上门测温；测温结果记录在案，不达标按规定退费。",
            "duration_minutes": 30,
        },
    ),
    (
        "valve-adjust",
        {
            **VISIT_RULES,
            "name": "阀门调节",
            "description": "调节户内或楼道供热阀门，解决室温过高或过低。",
            "duration_minutes": 30,
        },
    ),
    (
        "hall-service",
        {
            "kind": Service.Kind.COUNTER,
            "name": "营业厅办理",
            "description": f"过户、报停、发票等业务到营业厅办理，预约后免排队。地点：{HALL}",
            "duration_minutes": 15,
            "slot_interval_minutes": 15,
            "capacity_per_slot": 2,
            "min_notice_minutes": 60,
            "max_days_ahead": 14,
            "cancel_deadline_minutes": 60,
            "reschedule_deadline_minutes": 60,
            "requires_house": False,
            "max_active_per_house": None,
            "hold_minutes": 10,
            "reminder_hours_before": 24,
        },
    ),
)
SERVICE_RESOURCES = {
    "home-repair": [t.code for t in TEAMS],
    "temperature-check": [t.code for t in TEAMS],
    "valve-adjust": [t.code for t in TEAMS],
    "hall-service": [code for code, _ in WINDOWS],
}

# Public holidays and make-up working days (调休上班, run on the Monday plan) of 2026 as the
# State Council announced them. Later years are announced each November; staff enter them.
HOLIDAYS: dict[int, list[tuple[str, str, str, int]]] = {
    2026: [
        *[(f"2026-01-0{d}", "holiday", "元旦", 0) for d in (1, 2, 3)],
        ("2026-01-04", "workday", "元旦调休", 0),
        ("2026-02-14", "workday", "春节调休", 0),
        *[(f"2026-02-{d}", "holiday", "春节", 0) for d in range(15, 24)],
        ("2026-02-28", "workday", "春节调休", 0),
        *[(f"2026-04-0{d}", "holiday", "清明节", 0) for d in (4, 5, 6)],
        *[(f"2026-05-0{d}", "holiday", "劳动节", 0) for d in range(1, 6)],
        ("2026-05-09", "workday", "劳动节调休", 0),
        *[(f"2026-06-{d}", "holiday", "端午节", 0) for d in (19, 20, 21)],
        ("2026-09-20", "workday", "国庆节调休", 0),
        *[(f"2026-09-{d}", "holiday", "中秋节", 0) for d in (25, 26, 27)],
        *[(f"2026-10-0{d}", "holiday", "国庆节", 0) for d in range(1, 8)],
        ("2026-10-10", "workday", "国庆节调休", 0),
    ],
}


@dataclass(frozen=True)
class BookingsDemoResult:
    created: bool  # False: everything was there already and nothing was written
    services: int
    resources: int
    holiday_years: tuple[int, ...]


def _resources(actor: User) -> int:
    made = 0
    existing = set(Resource.objects.values_list("code", flat=True))
    for team in TEAMS:
        if team.code in existing:
            continue
        members = list(
            User.objects.filter(username__in=team.members, is_staff=True).values_list(
                "username", flat=True
            )
        )
        resource = resource_save(
            actor=actor,
            code=team.code,
            data={
                "name": team.name,
                "kind": Resource.Kind.TEAM,
                "communities": list(team.communities),
                "members": members,
            },
            create=True,
        )
        plan_set(actor=actor, resource=resource, periods=TEAM_HOURS)
        made += 1
    for code, name in WINDOWS:
        if code in existing:
            continue
        resource = resource_save(
            actor=actor,
            code=code,
            data={
                "name": name,
                "kind": Resource.Kind.WINDOW,
                "capacity_per_slot": 2,
                "location": HALL,
            },
            create=True,
        )
        plan_set(actor=actor, resource=resource, periods=WINDOW_HOURS)
        made += 1
    return made


def _services(actor: User) -> int:
    made = 0
    existing = set(Service.objects.values_list("code", flat=True))
    for code, rules in SERVICES:
        if code in existing:
            continue
        service_save(
            actor=actor,
            code=code,
            data={**rules, "resources": SERVICE_RESOURCES[code]},
            create=True,
        )
        made += 1
    return made


def _holidays(actor: User) -> tuple[int, ...]:
    """A year's calendar is set only when it has none: staff may have entered their own."""
    years = []
    for year, days in HOLIDAYS.items():
        if CalendarDay.objects.filter(date__year=year).exists():
            continue
        holidays_set(
            actor=actor,
            year=year,
            days=[
                {
                    "date": dt.date.fromisoformat(day),
                    "kind": kind,
                    "name": name,
                    "works_as_weekday": weekday,
                }
                for day, kind, name, weekday in days
            ],
        )
        years.append(year)
    return tuple(years)


def bookings_demo_load(*, actor: User) -> BookingsDemoResult:
    """Services, teams, windows, their hours and the holidays; what exists is kept."""
    made = _resources(actor) + _services(actor)
    years = _holidays(actor)
    return BookingsDemoResult(
        created=bool(made or years),
        services=len(SERVICES),
        resources=len(TEAMS) + len(WINDOWS),
        holiday_years=years,
    )
