"""Tariff versions: create, correct while unused, copy into a new version."""

from typing import Any

from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.models import HeatingSeason, Tariff
from heatdesk.billing.services.common import TARIFF_TERMS, check_fields, full_clean, snapshot
from heatdesk.core.errors import Conflict


def tariff_create(
    *, season: HeatingSeason, usage_type: str, user_type: str, by: User | None, **terms_: Any
) -> Tariff:
    """Add the next version of the price for (season, usage type, user type); version 1 first.

    New bills take the highest version; bills already issued keep the version they used.
    """
    check_fields(terms_, TARIFF_TERMS)
    if HeatingSeason.objects.filter(pk=season.pk, status=HeatingSeason.Status.CLOSED).exists():
        raise Conflict("采暖季已结束，不能再设置热价。", code="season_closed")
    last = (
        Tariff.objects.filter(season=season, usage_type=usage_type, user_type=user_type)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    tariff = Tariff(
        season=season,
        usage_type=usage_type,
        user_type=user_type,
        version=(last or 0) + 1,
        created_by=by,
        **terms_,
    )
    full_clean(tariff)
    try:
        with transaction.atomic():
            tariff.save()
            tariff.refresh_from_db()
            audit_record(
                actor=by,
                action="billing.tariff_create",
                obj=tariff,
                after={"version": tariff.version, **snapshot(tariff, TARIFF_TERMS)},
            )
    except IntegrityError as exc:
        # The unique (season, usage, user, version) refused ours: someone added it first.
        raise Conflict(
            "该热价刚刚被他人创建了新版本，请刷新后重试。", code="tariff_conflict"
        ) from exc
    return tariff


def tariff_new_version(*, tariff: Tariff, by: User | None, **changes: Any) -> Tariff:
    """Copy a version with some terms changed: how a tariff used by bills is corrected."""
    check_fields(changes, TARIFF_TERMS)
    copied = {name: getattr(tariff, name) for name in TARIFF_TERMS}
    copied.update(changes)
    return tariff_create(
        season=tariff.season,
        usage_type=tariff.usage_type,
        user_type=tariff.user_type,
        by=by,
        **copied,
    )


def tariff_update(*, tariff: Tariff, by: User | None, **changes: Any) -> Tariff:
    """Change a version no bill has used yet; a used version refuses (make a new version)."""
    check_fields(changes, TARIFF_TERMS)
    with transaction.atomic():
        # The lock orders us against the bill that marks this version in use (`_bill_draft`).
        current = Tariff.objects.select_for_update().get(pk=tariff.pk)
        if current.in_use_since is not None:
            raise Conflict("该热价版本已被账单使用，不能修改；请创建新版本。", code="tariff_in_use")
        before = snapshot(current, list(changes))
        for name, value in changes.items():
            setattr(current, name, value)
        full_clean(current)
        current.save(update_fields=list(changes))
        current.refresh_from_db()
        audit_record(
            actor=by,
            action="billing.tariff_update",
            obj=current,
            before=before,
            after=snapshot(current, list(changes)),
        )
    return current
