"""House-list files built in the tests themselves (no binary fixtures in the repository)."""

import csv
import io
from collections.abc import Sequence
from typing import Any

import openpyxl

HEADER = [
    "小区编码",
    "小区名称",
    "楼栋",
    "单元",
    "房号",
    "楼层",
    "户号",
    "建筑面积",
    "供热面积",
    "用途",
    "用户类型",
    "供热状态",
    "热表编号",
    "户主姓名",
    "户主电话",
]


def row(
    account_no: str,
    *,
    community: tuple[str, str] = ("GX01", "光辉小区"),
    building: str = "1号楼",
    unit: str = "1单元",
    room: str = "101",
    floor: Any = "1",
    building_area: Any = "89.50",
    heated_area: Any = "85.00",
    usage: str = "居民",
    user_type: str = "普通",
    status: str = "供热",
    meter: str = "",
    owner: str = "张伟",
    phone: Any = "13800001234",
) -> list[Any]:
    return [
        community[0],
        community[1],
        building,
        unit,
        room,
        floor,
        account_no,
        building_area,
        heated_area,
        usage,
        user_type,
        status,
        meter,
        owner,
        phone,
    ]


def xlsx_bytes(rows: Sequence[Sequence[Any]], header: Sequence[Any] = HEADER) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for values in rows:
        sheet.append(list(values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(
    rows: Sequence[Sequence[Any]], header: Sequence[Any] = HEADER, encoding: str = "utf-8-sig"
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for values in rows:
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode(encoding)


def read_xlsx(data: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
