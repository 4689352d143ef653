"""Builders for bookings tests: resources with weekly plans, services, bound houses."""

import datetime as dt
import itertools
from typing import Any

from django.contrib.auth.models import Permission

from heatdesk.accounts.models import User
from heatdesk.bookings.models import Resource, Service, WorkingHours
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.models import Community, House, HouseBinding

_seq = itertools.count(1)

WEEKDAYS = (0, 1, 2, 3, 4)
DAY_PERIODS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))


def at(day: str, hhmm: str) -> dt.datetime:
    """An aware Asia/Shanghai datetime: at("2026-12-01", "09:00")."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI)


def set_plan(
    resource: Resource,
    *,
    weekdays: tuple[int, ...] = WEEKDAYS,
    periods: tuple[tuple[dt.time, dt.time], ...] = DAY_PERIODS,
) -> Resource:
    WorkingHours.objects.filter(resource=resource).delete()
    WorkingHours.objects.bulk_create(
        [
            WorkingHours(resource=resource, weekday=w, starts=s, ends=e)
            for w in weekdays
            for s, e in periods
        ]
    )
    return resource


def make_team(*communities: Community, members: tuple[User, ...] = (), **fields: Any) -> Resource:
    n = next(_seq)
    team = Resource.objects.create(
        code=fields.pop("code", f"team-{n}"),
        name=fields.pop("name", f"维修{n}班"),
        kind=Resource.Kind.TEAM,
        **fields,
    )
    team.communities.set(communities)
    team.members.set(members)
    return set_plan(team)


def make_window(*, capacity: int = 2, **fields: Any) -> Resource:
    n = next(_seq)
    window = Resource.objects.create(
        code=fields.pop("code", f"window-{n}"),
        name=fields.pop("name", f"{n}号窗口"),
        kind=Resource.Kind.WINDOW,
        capacity_per_slot=capacity,
        location=fields.pop("location", "客服中心一楼"),
        **fields,
    )
    return set_plan(window)


def make_visit_service(*resources: Resource, **fields: Any) -> Service:
    n = next(_seq)
    values: dict[str, Any] = {
        "code": f"repair-{n}",
        "name": "上门维修",
        "kind": Service.Kind.VISIT,
        "duration_minutes": 60,
        "buffer_before_minutes": 30,
        "buffer_after_minutes": 30,
        "slot_interval_minutes": 30,
        "min_notice_minutes": 120,
        "max_days_ahead": 14,
        "cancel_deadline_minutes": 240,
        "reschedule_deadline_minutes": 240,
        "requires_house": True,
        "max_active_per_house": 2,
    }
    values.update(fields)
    service = Service.objects.create(**values)
    service.resources.set(resources)
    return service


def make_counter_service(*resources: Resource, **fields: Any) -> Service:
    n = next(_seq)
    values: dict[str, Any] = {
        "code": f"counter-{n}",
        "name": "营业厅业务办理",
        "kind": Service.Kind.COUNTER,
        "duration_minutes": 30,
        "slot_interval_minutes": 30,
        "capacity_per_slot": 10,
        "min_notice_minutes": 60,
        "max_days_ahead": 7,
        "cancel_deadline_minutes": 60,
        "reschedule_deadline_minutes": 60,
        "requires_house": False,
        "max_active_per_house": None,
    }
    values.update(fields)
    service = Service.objects.create(**values)
    service.resources.set(resources)
    return service


def bind(user: User, house: House) -> HouseBinding:
    return HouseBinding.objects.create(user=user, house=house, relation=HouseBinding.Relation.OWNER)


def community_of(house: House) -> Community:
    return house.unit.building.community


def grant(user: User, *perms: str) -> User:
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # fresh: permissions are cached per instance


def plain_users(count: int, prefix: str = "r") -> list[User]:
    n = next(_seq)
    User.objects.bulk_create([User(username=f"{prefix}{n}-{i}") for i in range(count)])
    return list(User.objects.filter(username__startswith=f"{prefix}{n}-").order_by("pk"))
