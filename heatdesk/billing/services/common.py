"""What every billing service shares: field checks, validation as 422, audit snapshots, and
the compare-and-set status move."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from heatdesk.billing.models import Bill, HeatingSeason
from heatdesk.core.errors import Conflict, ValidationFailed

SEASON_FIELDS = frozenset(
    {
        "code",
        "heating_start",
        "heating_end",
        "bill_issue_date",
        "payment_due_date",
        "stop_apply_deadline",
        "early_discount_rate",
        "early_discount_last_day",
        "late_fee_kind",
        "late_fee_rate",
        "late_fee_start_date",
        "late_fee_cap_ratio",
        "late_fee_stops_at_cutoff",
    }
)
TARIFF_TERMS = frozenset(
    {
        "pricing",
        "area_basis",
        "area_price",
        "basic_price",
        "basic_ratio",
        "metered_price",
        "metered_unit",
        "settlement_mode",
        "settlement_cap_ratio",
        "stop_basic_ratio",
        "prorate_by_day",
        "surcharge_ratio",
        "relief_ratio",
        "relief_funding_source",
        "note",
    }
)


def check_fields(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"unknown fields: {', '.join(unknown)}")


def full_clean(obj: models.Model, *, exclude: list[str] | None = None) -> None:
    """Model and constraint validation as a 422 with per-field Chinese messages."""
    try:
        obj.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        raise ValidationFailed("请检查填写的内容。", fields=fields) from exc


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a field value for the audit log."""
    return value if value is None or isinstance(value, bool | int | str) else str(value)


def snapshot(obj: models.Model, names: frozenset[str] | list[str]) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in sorted(names)}


def current_status(model: type[HeatingSeason] | type[Bill], pk: int) -> str:
    return str(model.objects.filter(pk=pk).values_list("status", flat=True).get())


def move(
    model: type[HeatingSeason] | type[Bill],
    obj: HeatingSeason | Bill,
    *,
    to: str,
    code: str,
    **stamps: Any,
) -> str:
    """Compare-and-set `obj` from its current status to `to`; returns the status it left."""
    current = current_status(model, obj.pk)
    if to not in model.TRANSITIONS[current]:
        labels = dict(model.Status.choices)
        raise Conflict(f"当前状态为“{labels[current]}”，不能改为“{labels[to]}”。", code=code)
    if not model.objects.filter(pk=obj.pk, status=current).update(status=to, **stamps):
        # Nothing updated: another request moved it between our read and our write.
        raise Conflict("状态刚刚被他人修改，请刷新后重试。", code=code)
    return current
