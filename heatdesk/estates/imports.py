"""Importing the house list from .xlsx or .csv: check the whole file, then write all or nothing."""

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import Conflict
from heatdesk.estates import import_plan, importing
from heatdesk.estates.import_plan import Existing, ExistingHouse, ImportReport, Plan
from heatdesk.estates.importing import RowKeys
from heatdesk.estates.models import Building, Community, House, Unit

T = TypeVar("T")


@dataclass(frozen=True)
class AuditedFile:
    """What an audit entry points at for a whole file: its kind and its SHA-256."""

    pk: str
    _meta: Any

    @classmethod
    def of(cls, data: bytes, *, kind: str) -> "AuditedFile":
        digest = hashlib.sha256(data).hexdigest()
        return cls(pk=digest, _meta=SimpleNamespace(label_lower=f"estates.{kind}"))


def houses_import(
    *, file_name: str, data: bytes, imported_by: User | None, dry_run: bool = False
) -> ImportReport:
    """Create or update communities, buildings, units and houses from a house list file.

    Every row is checked first; when any row is wrong, nothing is written and the report lists
    every error with its row number. A valid file is written in one transaction with one audit
    entry holding the counts. `dry_run` checks and counts without writing.

    Raises `ValidationFailed` for a file that cannot be used at all (type, size, encoding,
    headers, row count) and `Conflict` when another import created the same houses meanwhile.
    """
    parsed = importing.parse_houses_file(file_name=file_name, data=data)
    if dry_run:
        existing, _ = _load_existing(parsed.all_keys(), lock=False)
        return ImportReport.from_plan(
            parsed, import_plan.plan_import(parsed, existing), dry_run=True
        )
    try:
        with transaction.atomic():
            existing, houses = _load_existing(parsed.all_keys(), lock=True)
            plan = import_plan.plan_import(parsed, existing)
            report = ImportReport.from_plan(parsed, plan, dry_run=False)
            if not report.ok:
                return report
            _write(plan, houses)
            audit_record(
                actor=imported_by,
                action="estates.houses_import",
                obj=AuditedFile.of(data, kind="house_import"),
                after=report.counts(),
            )
    except IntegrityError:
        # Checked moments ago inside this transaction: another import committed the same
        # account number or address in between.
        raise Conflict(
            "导入期间房屋数据被其他操作修改，未写入任何数据，请重新导入。", code="import_conflict"
        ) from None
    return report


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    size = min(connection.features.max_query_params or 5000, 5000) - 10
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _load_existing(keys: Iterable[RowKeys], *, lock: bool) -> tuple[Existing, dict[str, House]]:
    """Everything the file's rows are checked against, in a handful of queries."""
    keys = list(keys)
    codes = sorted({k.community_code for k in keys if k.community_code})
    community_names: dict[str, str] = {}
    for chunk in _chunks(codes):
        community_names.update(Community.objects.filter(code__in=chunk).values_list("code", "name"))
    unit_ids = _unit_ids(codes)

    query = House.objects.select_related("unit__building__community").order_by("pk")
    if lock:
        query = query.select_for_update(of=("self",))
    houses: dict[str, House] = {}
    for accounts in _chunks(sorted({k.account_no for k in keys if k.account_no})):
        houses.update((h.account_no, h) for h in query.filter(account_no__in=accounts))

    # Who already lives at the file's addresses (a new 户号 cannot take an occupied address).
    unit_key = {unit_id: key for key, unit_id in unit_ids.items()}
    wanted_units = sorted(
        {unit_ids[k.address[:3]] for k in keys if k.address and k.address[:3] in unit_ids}
    )
    account_at: dict[importing.Address, str] = {}
    for units in _chunks(wanted_units):
        for unit_id, room, account_no in House.objects.filter(unit_id__in=units).values_list(
            "unit_id", "room", "account_no"
        ):
            account_at[(*unit_key[unit_id], room)] = account_no

    existing = Existing(
        community_names=community_names,
        buildings=set(_building_ids(codes)),
        units=set(unit_ids),
        houses={
            account_no: ExistingHouse(
                account_no=account_no,
                address=(
                    house.unit.building.community.code,
                    house.unit.building.name,
                    house.unit.name,
                    house.room,
                ),
                address_label=house.address,
                attrs={name: getattr(house, name) for name in importing.HOUSE_ATTRS},
            )
            for account_no, house in houses.items()
        },
        account_at=account_at,
    )
    return existing, houses


def _write(plan: Plan, houses: dict[str, House]) -> None:
    if plan.creates:
        unit_ids = _ensure_units(plan)
        House.objects.bulk_create(
            [
                House(
                    account_no=row.account_no,
                    unit_id=unit_ids[row.unit_key],
                    room=row.room,
                    **{**importing.NEW_HOUSE_DEFAULTS, **row.attrs},
                    owner_phone_hash=_phone_hash(row.attrs.get("owner_phone", "")),
                )
                for row in plan.creates
            ],
            batch_size=500,
        )

    # One UPDATE … CASE per set of changed columns, so unchanged columns are not rewritten.
    now = clock.now()
    groups: dict[tuple[str, ...], list[House]] = defaultdict(list)
    for row, changes in plan.updates:
        house = houses[row.account_no]
        for name, value in changes.items():
            setattr(house, name, value)
        changed = {*changes, "updated_at"}
        if "owner_phone" in changes:
            house.owner_phone_hash = _phone_hash(house.owner_phone)
            changed.add("owner_phone_hash")
        house.updated_at = now
        groups[tuple(sorted(changed))].append(house)
    for columns, group in groups.items():
        House.objects.bulk_update(group, list(columns), batch_size=500)


def _ensure_units(plan: Plan) -> dict[tuple[str, str, str], int]:
    """Create the communities, buildings and units new houses need; return every unit's id."""
    codes = sorted({row.community_code for row in plan.creates})
    Community.objects.bulk_create(
        [Community(code=code, name=name) for code, name in sorted(plan.new_communities.items())]
    )
    community_ids: dict[str, int] = {}
    for chunk in _chunks(codes):
        community_ids.update(Community.objects.filter(code__in=chunk).values_list("code", "id"))
    Building.objects.bulk_create(
        [Building(community_id=community_ids[c], name=b) for c, b in sorted(plan.new_buildings)]
    )
    building_ids = _building_ids(codes)
    Unit.objects.bulk_create(
        [Unit(building_id=building_ids[(c, b)], name=u) for c, b, u in sorted(plan.new_units)]
    )
    return _unit_ids(codes)


def _building_ids(codes: Sequence[str]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for chunk in _chunks(codes):
        for building_id, code, name in Building.objects.filter(
            community__code__in=chunk
        ).values_list("id", "community__code", "name"):
            found[(code, name)] = building_id
    return found


def _unit_ids(codes: Sequence[str]) -> dict[tuple[str, str, str], int]:
    found: dict[tuple[str, str, str], int] = {}
    for chunk in _chunks(codes):
        for unit_id, code, building, name in Unit.objects.filter(
            building__community__code__in=chunk
        ).values_list("id", "building__community__code", "building__name", "name"):
            found[(code, building, name)] = unit_id
    return found


def _phone_hash(phone: str) -> str:
    return phone_hash(phone) if phone else ""
