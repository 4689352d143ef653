"""Binding residents to houses."""

import hmac
import logging
import re

from django.conf import settings
from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.core import clock, ratelimit
from heatdesk.core.errors import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from heatdesk.estates.models import House, HouseBinding

security_log = logging.getLogger("heatdesk.security")

MISMATCH = "户号与户主信息不匹配，请核对后重试。"


def _normalize_name(name: str) -> str:
    return re.sub(r"\s+", "", name or "")


def owner_check_passes(*, house: House, owner_name: str = "", phone_last4: str = "") -> bool:
    """The owner's full name, or the last four digits of the owner's phone, must match."""
    if owner_name:
        expected = _normalize_name(house.owner_name)
        return bool(expected) and hmac.compare_digest(
            expected.encode(), _normalize_name(owner_name).encode()
        )
    if phone_last4:
        phone = house.owner_phone or ""
        return len(phone) >= 4 and hmac.compare_digest(phone[-4:].encode(), phone_last4.encode())
    return False


def _user_failures(user: User) -> ratelimit.Window:
    return ratelimit.rolling_window(f"bind-fail:user:{user.pk}", seconds=3600)


def _house_failures(account_no: str) -> ratelimit.Window:
    return ratelimit.rolling_window(f"bind-fail:house:{account_no}", seconds=3600)


def _bind_locked(window: ratelimit.Window) -> RateLimited:
    return RateLimited(
        "验证失败次数过多，请一小时后再试或联系客服。",
        code="bind_locked",
        retry_after=ratelimit.seconds_until(window.expires_at),
    )


def _is_owner_by_phone(*, user: User, house: House | None) -> bool:
    """The resident signed in with the phone number on file for the house's owner."""
    return (
        house is not None
        and bool(house.owner_phone_hash)
        and user.has_verified_phone
        and hmac.compare_digest(house.owner_phone_hash, user.phone_hash or "")
    )


def house_bind(
    *,
    user: User,
    account_no: str,
    relation: str,
    owner_name: str = "",
    phone_last4: str = "",
    ip: str = "",
) -> HouseBinding:
    """Bind a house to a resident after the owner check. Binding twice returns the first binding.

    Failed checks are limited per resident (BIND_FAILURES_PER_HOUR), so the last four digits
    cannot be guessed by trying, and per account number from everyone
    (BIND_HOUSE_FAILURES_PER_HOUR, much higher), which raises an alert when reached.
    """
    account_no = (account_no or "").strip()
    fields: dict[str, list[str]] = {}
    if not account_no:
        fields["account_no"] = ["请输入户号。"]
    if relation not in HouseBinding.Relation.values:
        fields["relation"] = ["请选择与户主的关系。"]
    if not owner_name.strip() and not phone_last4:
        fields["owner_name"] = ["请填写户主姓名或户主手机号后四位。"]
    if phone_last4 and not re.fullmatch(r"\d{4}", phone_last4):
        fields["phone_last4"] = ["请输入4位数字。"]
    if fields:
        raise ValidationFailed("请检查填写的内容。", fields=fields)

    # Every attempt is counted before the check, so concurrent attempts cannot all pass a
    # "below the limit" test and then guess; an attempt that passes is taken back below.
    user_window = _user_failures(user)
    if ratelimit.hit(user_window) > settings.BIND_FAILURES_PER_HOUR:
        ratelimit.release(user_window)  # refused unchecked: not a failure
        raise _bind_locked(user_window)
    counted = [user_window]

    house = (
        House.objects.select_related("unit__building__community")
        .filter(account_no=account_no)
        .first()
    )
    # The per-house cap stops guessing spread over many accounts. It is far above the
    # per-resident limit, and the owner signing in with the phone on file is never held by it,
    # so failing on purpose cannot lock the owners out.
    if not _is_owner_by_phone(user=user, house=house):
        house_window = _house_failures(account_no)
        if ratelimit.hit(house_window) > settings.BIND_HOUSE_FAILURES_PER_HOUR:
            ratelimit.release(house_window)
            ratelimit.release(user_window)
            _alert_house_locked(account_no)
            raise _bind_locked(house_window)
        counted.append(house_window)

    if house is None or not owner_check_passes(
        house=house, owner_name=owner_name, phone_last4=phone_last4
    ):
        raise ApplicationError(
            MISMATCH, code="owner_check_failed", fields={"owner_name": [MISMATCH]}
        )
    for window in counted:
        ratelimit.release(window)
    return _bind(user=user, house=house, relation=relation, by=None, ip=ip)


def _alert_house_locked(account_no: str) -> None:
    """One warning per hour and house: someone is guessing its owner check from many accounts."""
    if ratelimit.cooldown_start(f"bind-house-alert:{account_no}", seconds=3600) == 0:
        security_log.warning(
            "owner checks for house %s failed %d times within an hour; binding it is paused "
            "for everyone but its owner's phone",
            account_no,
            settings.BIND_HOUSE_FAILURES_PER_HOUR,
        )


def _bind(*, user: User, house: House, relation: str, by: User | None, ip: str) -> HouseBinding:
    with transaction.atomic():
        # One lock per resident serialises their binds, so the house limit holds under races.
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = HouseBinding.objects.filter(user=user, house=house, ended_at=None).first()
        if existing is not None:
            return existing
        active = HouseBinding.objects.filter(user=user, ended_at=None).count()
        if active >= settings.MAX_HOUSES_PER_RESIDENT:
            raise ApplicationError(
                f"每位用户最多绑定{settings.MAX_HOUSES_PER_RESIDENT}户，请先解绑不用的房屋。",
                code="house_limit_reached",
            )
        binding = HouseBinding.objects.create(
            user=user, house=house, relation=relation, created_by=by
        )
        audit_record(
            actor=by or user,
            action="house.bind",
            obj=binding,
            after={"user": user.public_id, "house": house.account_no, "relation": relation},
            ip=ip,
        )
    return binding


def house_unbind(
    *, user: User, house_public_id: str, by: User | None = None, reason: str = "", ip: str = ""
) -> HouseBinding:
    """End the resident's active binding to a house (a repeat call is refused with 404)."""
    with transaction.atomic():
        binding = (
            HouseBinding.objects.select_for_update()
            .filter(user=user, house__public_id=house_public_id, ended_at=None)
            .first()
        )
        if binding is None:
            raise NotFound("未找到该房屋。", code="house_not_found")
        binding.ended_at = clock.now()
        binding.ended_by = by or user
        binding.save(update_fields=["ended_at", "ended_by"])
        audit_record(
            actor=by or user,
            action="house.unbind",
            obj=binding,
            before={"active": True},
            after={"active": False},
            reason=reason,
            ip=ip,
        )
    return binding


def house_bind_by_staff(
    *, staff: User, resident: User, house: House, relation: str, reason: str = "", ip: str = ""
) -> HouseBinding:
    """Staff bind a house for a resident (no owner check: staff have seen the papers)."""
    if not staff.has_perm("estates.manage_bindings"):
        raise PermissionDenied("没有权限为用户绑定房屋。")
    if relation not in HouseBinding.Relation.values:
        raise ValidationFailed("请选择与户主的关系。", fields={"relation": ["无效的关系。"]})
    binding = _bind(user=resident, house=house, relation=relation, by=staff, ip=ip)
    return binding


def house_heating_status_set(*, house: House, status: str, by: User | None, reason: str) -> House:
    """Change a house's heating status (供热/报停/停供), audited with before, after and reason.

    Called by billing when a stop or resume application is approved, inside its transaction.
    A compare-and-set on the status just read: a concurrent change makes this one fail.
    """
    if status not in House.HeatingStatus.values:
        raise ValidationFailed("无效的供热状态。", fields={"status": ["无效的供热状态。"]})
    with transaction.atomic():
        current = (
            House.objects.select_for_update()
            .filter(pk=house.pk)
            .values_list("heating_status", flat=True)
            .get()
        )
        if current == status:
            return house
        if not House.objects.filter(pk=house.pk, heating_status=current).update(
            heating_status=status, updated_at=clock.now()
        ):
            raise ApplicationError("房屋状态刚刚被他人修改，请刷新后重试。", code="house_conflict")
        audit_record(
            actor=by,
            action="house.heating_status_set",
            obj=house,
            before={"heating_status": current},
            after={"heating_status": status},
            reason=reason,
        )
    house.heating_status = status
    return house
