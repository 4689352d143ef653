"""Staff configuration: services, resources, weekly plans, day exceptions, holidays.

Every change is audited. Capacity changes reach the counters of future slots (never below what
they already hold), so a lowered capacity stops new bookings without touching existing ones.
"""

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.bookings.models import (
    CalendarDay,
    DayException,
    Resource,
    Service,
    Slot,
    WorkingHours,
)
from heatdesk.bookings.selectors import slot_capacity
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, NotFound, ValidationFailed
from heatdesk.estates.models import Community

SERVICE_FIELDS = (
    "name",
    "description",
    "kind",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "slot_interval_minutes",
    "capacity_per_slot",
    "min_notice_minutes",
    "max_days_ahead",
    "cancel_deadline_minutes",
    "reschedule_deadline_minutes",
    "requires_house",
    "requires_approval",
    "max_active_per_house",
    "hold_minutes",
    "reminder_hours_before",
    "is_active",
)
RESOURCE_FIELDS = ("name", "kind", "capacity_per_slot", "location", "is_active")


def _snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


def _resources_by_code(codes: list[str]) -> list[Resource]:
    found = list(Resource.objects.filter(code__in=codes))
    missing = sorted(set(codes) - {r.code for r in found})
    if missing:
        raise ValidationFailed(
            "资源不存在。", fields={"resources": [f"未知资源：{', '.join(missing)}"]}
        )
    return found


def _validate_service(service: Service, resources: list[Resource] | None) -> None:
    errors: dict[str, list[str]] = {}
    if service.kind == Service.Kind.VISIT and not service.requires_house:
        errors["requires_house"] = ["上门服务必须绑定房屋（按小区安排班组）。"]
    if service.duration_minutes < 1:
        errors["duration_minutes"] = ["时长须大于0。"]
    if service.slot_interval_minutes < 5:
        errors["slot_interval_minutes"] = ["时段间隔至少5分钟。"]
    if service.capacity_per_slot < 1:
        errors["capacity_per_slot"] = ["容量至少为1。"]
    if service.hold_minutes < 1:
        errors["hold_minutes"] = ["保留时长至少1分钟。"]
    wanted = Resource.Kind.TEAM if service.kind == Service.Kind.VISIT else Resource.Kind.WINDOW
    if resources and any(r.kind != wanted for r in resources):
        errors["resources"] = ["上门服务只能由维修班组承担，营业厅办理只能使用窗口。"]
    if errors:
        raise ValidationFailed("服务项目设置有误。", fields=errors)


def _refresh_slot_capacities(*, services: list[Service], resources: list[Resource]) -> None:
    now = clock.now()
    for service in services:
        for resource in resources:
            if resource.exclusive:
                continue
            Slot.objects.filter(resource=resource, service=service, starts_at__gt=now).update(
                capacity=Greatest(
                    F("booked"), Value(slot_capacity(service=service, resource=resource))
                )
            )


@transaction.atomic
def service_save(*, actor: User, code: str, data: dict[str, Any], create: bool) -> Service:
    """Create a service (create=True) or change the given fields of an existing one."""
    resource_codes = data.pop("resources", None)
    if create:
        if Service.objects.filter(code=code).exists():
            raise Conflict("服务编码已存在。", code="service_exists")
        service = Service(code=code)
        before = None
    else:
        found = Service.objects.select_for_update().filter(code=code).first()
        if found is None:
            raise NotFound("未找到该服务项目。", code="service_not_found")
        service = found
        before = _snapshot(service, SERVICE_FIELDS)
    for name, value in data.items():
        if name in SERVICE_FIELDS:
            setattr(service, name, value)
    resources = _resources_by_code(resource_codes) if resource_codes is not None else None
    if resources is None and service.pk:
        _validate_service(service, list(service.resources.all()))
    else:
        _validate_service(service, resources)
    service.save()
    if resources is not None:
        service.resources.set(resources)
    _refresh_slot_capacities(services=[service], resources=list(service.resources.all()))
    after = _snapshot(service, SERVICE_FIELDS)
    after["resources"] = sorted(service.resources.values_list("code", flat=True))
    audit_record(
        actor=actor,
        action="bookings.service.create" if create else "bookings.service.change",
        obj=service,
        before=before,
        after=after,
    )
    return service


@transaction.atomic
def resource_save(*, actor: User, code: str, data: dict[str, Any], create: bool) -> Resource:
    """Create a resource or change it; `communities` are community codes, `members` usernames."""
    community_codes = data.pop("communities", None)
    usernames = data.pop("members", None)
    if create:
        if Resource.objects.filter(code=code).exists():
            raise Conflict("资源编码已存在。", code="resource_exists")
        resource = Resource(code=code)
        before = None
    else:
        found = Resource.objects.select_for_update().filter(code=code).first()
        if found is None:
            raise NotFound("未找到该资源。", code="resource_not_found")
        resource = found
        before = _snapshot(resource, RESOURCE_FIELDS)
    for name, value in data.items():
        if name in RESOURCE_FIELDS:
            setattr(resource, name, value)
    if resource.kind == Resource.Kind.TEAM and resource.capacity_per_slot != 1:
        if create and "capacity_per_slot" not in data:
            resource.capacity_per_slot = 1
        else:
            raise ValidationFailed(
                "维修班组一次只做一单。", fields={"capacity_per_slot": ["维修班组固定为1。"]}
            )
    if resource.capacity_per_slot < 1:
        raise ValidationFailed("容量至少为1。", fields={"capacity_per_slot": ["容量至少为1。"]})
    resource.save()
    if community_codes is not None:
        communities = list(Community.objects.filter(code__in=community_codes))
        missing = sorted(set(community_codes) - {c.code for c in communities})
        if missing:
            raise ValidationFailed(
                "小区不存在。", fields={"communities": [f"未知小区：{', '.join(missing)}"]}
            )
        resource.communities.set(communities)
    if usernames is not None:
        members = list(User.objects.filter(username__in=usernames, is_staff=True, is_active=True))
        missing = sorted(set(usernames) - {str(u.username) for u in members})
        if missing:
            raise ValidationFailed(
                "成员不存在。", fields={"members": [f"未知工作人员：{', '.join(missing)}"]}
            )
        resource.members.set(members)
    _refresh_slot_capacities(services=list(resource.services.all()), resources=[resource])
    after = _snapshot(resource, RESOURCE_FIELDS)
    after["communities"] = sorted(resource.communities.values_list("code", flat=True))
    after["members"] = sorted(str(u) for u in resource.members.values_list("username", flat=True))
    audit_record(
        actor=actor,
        action="bookings.resource.create" if create else "bookings.resource.change",
        obj=resource,
        before=before,
        after=after,
    )
    return resource


def _overlapping(ranges: list[tuple[dt.time, dt.time]]) -> bool:
    ordered = sorted(ranges)
    return any(a[1] > b[0] for a, b in zip(ordered, ordered[1:], strict=False))


@transaction.atomic
def plan_set(
    *, actor: User, resource: Resource, periods: list[tuple[int, dt.time, dt.time]]
) -> list[WorkingHours]:
    """Replace a resource's weekly plan. Periods of one weekday must not overlap."""
    per_day: dict[int, list[tuple[dt.time, dt.time]]] = defaultdict(list)
    for weekday, starts, ends in periods:
        if not 0 <= weekday <= 6:
            raise ValidationFailed(
                "星期须为0（周一）到6（周日）。", fields={"periods": ["星期无效。"]}
            )
        if starts >= ends:
            raise ValidationFailed("结束时间须晚于开始时间。", fields={"periods": ["时间段无效。"]})
        per_day[weekday].append((starts, ends))
    if any(_overlapping(ranges) for ranges in per_day.values()):
        raise ValidationFailed("同一天的工作时段不能重叠。", fields={"periods": ["时段重叠。"]})
    before = [
        [h.weekday, h.starts.isoformat(), h.ends.isoformat()]
        for h in resource.working_hours.order_by("weekday", "starts")
    ]
    WorkingHours.objects.filter(resource=resource).delete()
    rows = WorkingHours.objects.bulk_create(
        [
            WorkingHours(resource=resource, weekday=w, starts=s, ends=e)
            for w, s, e in sorted(periods)
        ]
    )
    audit_record(
        actor=actor,
        action="bookings.plan.set",
        obj=resource,
        before={"periods": before},
        after={"periods": [[w, s.isoformat(), e.isoformat()] for w, s, e in sorted(periods)]},
    )
    return rows


@transaction.atomic
def exception_add(
    *,
    actor: User,
    resource: Resource,
    date: dt.date,
    is_closed: bool,
    starts: dt.time | None,
    ends: dt.time | None,
    reason: str,
) -> DayException:
    """Close a resource for a day, or give it other hours that day (several rows = periods)."""
    if is_closed:
        starts = ends = None
    elif starts is None or ends is None or starts >= ends:
        raise ValidationFailed("请填写有效的开始和结束时间。", fields={"starts": ["时间段无效。"]})
    try:
        row = DayException.objects.create(
            resource=resource,
            date=date,
            is_closed=is_closed,
            starts=starts,
            ends=ends,
            reason=reason,
        )
    except IntegrityError as exc:
        raise ValidationFailed("例外设置有误。", fields={"starts": ["时间段无效。"]}) from exc
    audit_record(
        actor=actor,
        action="bookings.exception.add",
        obj=resource,
        after={
            "date": date.isoformat(),
            "is_closed": is_closed,
            "starts": starts.isoformat() if starts else None,
            "ends": ends.isoformat() if ends else None,
        },
        reason=reason,
    )
    return row


@transaction.atomic
def exception_remove(*, actor: User, exception_id: int) -> None:
    row = DayException.objects.select_related("resource").filter(pk=exception_id).first()
    if row is None:
        raise NotFound("未找到该例外。", code="exception_not_found")
    audit_record(
        actor=actor,
        action="bookings.exception.remove",
        obj=row.resource,
        before={"date": row.date.isoformat(), "is_closed": row.is_closed},
    )
    row.delete()


@transaction.atomic
def holidays_set(*, actor: User, year: int, days: list[dict[str, Any]]) -> list[CalendarDay]:
    """Replace one year's public holidays and make-up working days."""
    dates = [d["date"] for d in days]
    if any(d.year != year for d in dates):
        raise ValidationFailed(
            "日期须在所设年份内。", fields={"days": [f"只能设置{year}年的日期。"]}
        )
    if len(set(dates)) != len(dates):
        raise ValidationFailed("日期重复。", fields={"days": ["同一天只能设置一次。"]})
    for day in days:
        if day["kind"] not in CalendarDay.Kind.values:
            raise ValidationFailed("类型不正确。", fields={"days": ["类型须为holiday或workday。"]})
        if not 0 <= day.get("works_as_weekday", 0) <= 6:
            raise ValidationFailed("星期无效。", fields={"days": ["星期须为0到6。"]})
    existing = CalendarDay.objects.filter(date__year=year)
    before = [[d.date.isoformat(), d.kind] for d in existing.order_by("date")]
    existing.delete()
    rows = CalendarDay.objects.bulk_create(
        [
            CalendarDay(
                date=d["date"],
                kind=d["kind"],
                name=d.get("name", ""),
                works_as_weekday=d.get("works_as_weekday", 0),
            )
            for d in sorted(days, key=lambda d: d["date"])
        ]
    )
    audit_record(
        actor=actor,
        action="bookings.holidays.set",
        obj=CalendarDay(pk=year),  # the year's calendar as a whole
        before={"year": year, "days": before},
        after={"year": year, "days": [[r.date.isoformat(), r.kind] for r in rows]},
    )
    return rows
