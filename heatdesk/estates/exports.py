"""Exporting the house list in the import's own format, so an export re-imports unchanged."""

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.core.errors import ValidationFailed
from heatdesk.estates import importing, tabular
from heatdesk.estates.imports import AuditedFile
from heatdesk.estates.models import Community, House

FORMATS: tuple[str, ...] = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def houses_export(
    *,
    fmt: str,
    community_codes: Iterable[str] | None = None,
    exported_by: User | None = None,
) -> bytes:
    """The houses (of the given communities, else all) as an .xlsx or .csv house list.

    The file holds owners' names and phone numbers in clear, so every export is written to the
    audit log with who asked and how many rows left the system.
    """
    if fmt not in FORMATS:
        raise ValidationFailed(
            "导出格式只能是 xlsx 或 csv。", code="export_format", fields={"fmt": ["不支持的格式。"]}
        )
    houses = House.objects.select_related("unit__building__community").order_by(
        "unit__building__community__code", "unit__building__name", "unit__name", "room", "pk"
    )
    codes: list[str] | None = None
    if community_codes is not None:
        codes = sorted({code.strip() for code in community_codes if code.strip()})
        known = set(Community.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [code for code in codes if code not in known]
        if unknown:
            message = f"小区编码不存在：{'、'.join(unknown)}。"
            raise ValidationFailed(
                message, code="community_not_found", fields={"community_codes": [message]}
            )
        houses = houses.filter(unit__building__community__code__in=codes)

    exported = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal exported
        for house in houses.iterator(chunk_size=2000):
            exported += 1
            yield _house_cells(house, for_csv=fmt == "csv")

    header = [column.header for column in importing.COLUMNS]
    if fmt == "csv":
        data = tabular.write_csv(header=header, rows=rows())
    else:
        area_columns = [i for i, c in enumerate(importing.COLUMNS) if c.key.endswith("_area")]
        data = tabular.write_xlsx(
            sheet_title="房屋",
            header=header,
            rows=rows(),
            number_formats=dict.fromkeys(area_columns, "0.00"),
        )
    with transaction.atomic():
        audit_record(
            actor=exported_by,
            action="estates.houses_export",
            obj=AuditedFile.of(data, kind="house_export"),
            after={"format": fmt, "rows": exported, "community_codes": codes},
        )
    return data


def _house_cells(house: House, *, for_csv: bool) -> list[Any]:
    """One house as a row of the file, in COLUMNS order (the export re-imports unchanged).
    Needs the house with `unit__building__community` loaded."""
    unit = house.unit
    building = unit.building

    def area(value: Decimal) -> Any:
        return f"{value:.2f}" if for_csv else value

    return [
        building.community.code,
        building.community.name,
        building.name,
        unit.name,
        house.room,
        house.floor,
        house.account_no,
        area(house.building_area),
        area(house.heated_area),
        importing.USAGE_WORDS.get(house.usage_type, house.usage_type),
        importing.USER_TYPE_WORDS.get(house.user_type, house.user_type),
        importing.HEATING_WORDS.get(house.heating_status, house.heating_status),
        house.meter_id,
        house.owner_name,
        house.owner_phone,
    ]
