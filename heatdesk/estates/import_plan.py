"""Deciding what an import changes: every checked row against what the database holds.

Pure, like `importing`: `heatdesk.estates.imports` loads the `Existing` snapshot and writes the
`Plan`.
"""

from dataclasses import dataclass, field
from typing import Any

from heatdesk.estates.importing import COLUMNS, Address, HouseRow, ParsedFile, RowError, RowKeys


@dataclass(frozen=True)
class ExistingHouse:
    account_no: str
    address: Address
    address_label: str
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Existing:
    """What the database holds for the file's communities, addresses and account numbers."""

    community_names: dict[str, str]
    buildings: set[tuple[str, str]]
    units: set[tuple[str, str, str]]
    houses: dict[str, ExistingHouse]
    account_at: dict[Address, str]


@dataclass
class Plan:
    errors: list[RowError]
    creates: list[HouseRow] = field(default_factory=list)
    updates: list[tuple[HouseRow, dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    new_communities: dict[str, str] = field(default_factory=dict)
    new_buildings: set[tuple[str, str]] = field(default_factory=set)
    new_units: set[tuple[str, str, str]] = field(default_factory=set)


def _conflicts(keys: RowKeys, existing: Existing) -> list[RowError]:
    errors = []
    stored_name = existing.community_names.get(keys.community_code or "")
    if stored_name is not None and keys.community_name and stored_name != keys.community_name:
        errors.append(
            RowError(
                keys.row,
                "小区名称",
                f"小区编码{keys.community_code}已存在，名称为“{stored_name}”，与此处不一致。",
            )
        )
    if keys.account_no and keys.address:
        house = existing.houses.get(keys.account_no)
        occupant = existing.account_at.get(keys.address)
        if house is not None and house.address != keys.address:
            errors.append(
                RowError(
                    keys.row,
                    "户号",
                    f"户号{keys.account_no}已登记在“{house.address_label}”，与此处地址不一致。",
                )
            )
        elif house is None and occupant is not None:
            errors.append(
                RowError(keys.row, "房号", f"该地址已登记为户号{occupant}，不能再登记新户号。")
            )
    return errors


def plan_import(parsed: ParsedFile, existing: Existing) -> Plan:
    """Check every row against the database and list the creates and updates."""
    plan = Plan(errors=list(parsed.errors))
    for keys in parsed.invalid_keys:
        plan.errors.extend(_conflicts(keys, existing))
    for row in parsed.rows:
        conflicts = _conflicts(row.keys, existing)
        if conflicts:
            plan.errors.extend(conflicts)
            continue
        house = existing.houses.get(row.account_no)
        if house is not None:
            changes = {k: v for k, v in row.attrs.items() if house.attrs.get(k) != v}
            if changes:
                plan.updates.append((row, changes))
            else:
                plan.unchanged += 1
            continue
        plan.creates.append(row)
        if row.community_code not in existing.community_names:
            plan.new_communities.setdefault(row.community_code, row.community_name)
        if (row.community_code, row.building) not in existing.buildings:
            plan.new_buildings.add((row.community_code, row.building))
        if row.unit_key not in existing.units:
            plan.new_units.add(row.unit_key)
    order = {c.header: i for i, c in enumerate(COLUMNS)}
    plan.errors.sort(key=lambda e: (e.row, order.get(e.column, 99)))
    return plan


@dataclass
class ImportReport:
    """What an import did, or (dry run, or errors) would have done."""

    file_name: str
    total_rows: int
    dry_run: bool
    errors: list[RowError]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    communities_created: int = 0
    buildings_created: int = 0
    units_created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def committed(self) -> bool:
        return self.ok and not self.dry_run

    @classmethod
    def from_plan(cls, parsed: ParsedFile, plan: Plan, *, dry_run: bool) -> "ImportReport":
        report = cls(
            file_name=parsed.file_name,
            total_rows=parsed.total_rows,
            dry_run=dry_run,
            errors=plan.errors,
        )
        if report.ok:
            report.created = len(plan.creates)
            report.updated = len(plan.updates)
            report.unchanged = plan.unchanged
            report.communities_created = len(plan.new_communities)
            report.buildings_created = len(plan.new_buildings)
            report.units_created = len(plan.new_units)
        return report

    def counts(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "rows": self.total_rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "communities_created": self.communities_created,
            "buildings_created": self.buildings_created,
            "units_created": self.units_created,
        }
