"""Staff editing one house in the back office: saved with its phone hash and an audit entry."""

from decimal import Decimal
from typing import Any

from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.audit.services import audit_record
from heatdesk.core.errors import PermissionDenied
from heatdesk.core.masking import mask_name, mask_phone
from heatdesk.estates.models import House

# Areas and statuses decide bills, so each change is audited with before and after.
TRACKED = (
    "account_no",
    "unit_id",
    "room",
    "floor",
    "building_area",
    "heated_area",
    "usage_type",
    "user_type",
    "heating_status",
    "meter_id",
    "owner_name",
    "owner_phone",
)
_MASKS = {"owner_name": mask_name, "owner_phone": mask_phone}


def _shown(name: str, value: Any) -> Any:
    """A value as the audit log keeps it: personal data masked, decimals as text."""
    if name in _MASKS:
        return _MASKS[name](value or "")
    if isinstance(value, Decimal):
        return str(value)
    return value


def house_save_by_staff(*, house: House, by: User, ip: str = "") -> House:
    """Create or update `house` as edited (and already validated) by staff.

    Keeps `owner_phone_hash` in step with the phone, and records what changed in the audit log
    (owner name and phone only masked). Saving without a change writes nothing.
    """
    creating = house.pk is None
    if not by.has_perm("estates.add_house" if creating else "estates.change_house"):
        raise PermissionDenied("没有权限修改房屋信息。")
    house.owner_phone_hash = phone_hash(house.owner_phone) if house.owner_phone else ""
    with transaction.atomic():
        if creating:
            house.save()
            audit_record(
                actor=by,
                action="house.create",
                obj=house,
                after={name: _shown(name, getattr(house, name)) for name in TRACKED},
                ip=ip,
            )
            return house
        stored = House.objects.select_for_update().get(pk=house.pk)
        changed = [n for n in TRACKED if getattr(stored, n) != getattr(house, n)]
        if not changed:
            return house
        columns = [n.removesuffix("_id") for n in changed] + ["updated_at"]
        if "owner_phone" in changed:
            columns.append("owner_phone_hash")
        house.save(update_fields=columns)
        audit_record(
            actor=by,
            action="house.update",
            obj=house,
            before={n: _shown(n, getattr(stored, n)) for n in changed},
            after={n: _shown(n, getattr(house, n)) for n in changed},
            ip=ip,
        )
    return house
