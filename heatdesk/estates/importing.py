"""The house list as a file: its columns, and reading and checking every row. Pure: no
database access; `import_plan` compares the rows with the database, `imports` writes them.

Rules of the file:
- one row per house, headers in Chinese (English aliases accepted), in any order; a title row or
  two above the header row is allowed; columns HeatDesk does not know are ignored;
- row numbers in messages are the row numbers Excel shows;
- an optional column that is missing from the file leaves that attribute of an existing house
  unchanged; a blank 用途/用户类型/供热状态 means the default for a new house and no change for
  an existing one; a blank 楼层/热表编号/户主姓名/户主电话 clears the value;
- an existing 户号 at the same address updates that house; at another address it is an error.
"""

import datetime as dt
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models

from heatdesk.estates import tabular
from heatdesk.estates.models import House

MAX_HOUSE_ROWS = 50_000
HEADER_SEARCH_ROWS = 5


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("community_code", "小区编码", ("community_code", "小区代码"), required=True),
    Column("community_name", "小区名称", ("community_name", "community", "小区"), required=True),
    Column("building", "楼栋", ("building", "楼号", "楼栋号"), required=True),
    Column("unit", "单元", ("unit", "单元号"), required=True),
    Column("room", "房号", ("room", "房间号", "门牌号"), required=True),
    Column("floor", "楼层", ("floor",)),
    Column("account_no", "户号", ("account_no", "account", "用户编号"), required=True),
    Column("building_area", "建筑面积", ("building_area",), required=True),
    Column("heated_area", "供热面积", ("heated_area",), required=True),
    Column("usage_type", "用途", ("usage_type", "usage", "用户性质")),
    Column("user_type", "用户类型", ("user_type",)),
    Column("heating_status", "供热状态", ("heating_status", "status")),
    Column("meter_id", "热表编号", ("meter_id", "meter", "热表号")),
    Column("owner_name", "户主姓名", ("owner_name", "owner", "户主")),
    Column("owner_phone", "户主电话", ("owner_phone", "phone", "联系电话")),
)
HEADERS = {c.key: c.header for c in COLUMNS}
HOUSE_ATTRS = (
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
NEW_HOUSE_DEFAULTS: dict[str, Any] = {
    "floor": None,
    "usage_type": House.UsageType.RESIDENTIAL.value,
    "user_type": House.UserType.NORMAL.value,
    "heating_status": House.HeatingStatus.HEATING.value,
    "meter_id": "",
    "owner_name": "",
    "owner_phone": "",
}

# The words written to the file (and read back); model values and labels are accepted as well.
USAGE_WORDS: dict[str, str] = {"residential": "居民", "non_residential": "非居民"}
USER_TYPE_WORDS: dict[str, str] = {"normal": "普通", "low_income": "低保"}
HEATING_WORDS: dict[str, str] = {"heating": "供热", "stopped": "报停", "disconnected": "停供"}
_SYNONYMS: dict[str, str] = {
    "住宅": "residential",
    "非住宅": "non_residential",
    "困难户": "low_income",
    "拆网": "disconnected",
}


def _normalize_header(value: Any) -> str:
    text = str(value or "").strip().lower()
    text = re.sub(r"[（(][^)）]*[)）]", "", text)  # units such as 建筑面积(㎡)
    return re.sub(r"[\s_\-*：:]", "", text)


_HEADER_LOOKUP = {
    _normalize_header(name): column.key
    for column in COLUMNS
    for name in (column.header, column.key, *column.aliases)
}


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


Address = tuple[str, str, str, str]  # community code, building, unit, room


@dataclass(frozen=True)
class RowKeys:
    """What a row says about which house it is, as far as those cells are valid. Checked against
    the database for every row, so a row with a bad phone still learns its 户号 is taken."""

    row: int
    account_no: str | None
    community_code: str | None
    community_name: str | None
    address: Address | None


@dataclass(frozen=True)
class HouseRow:
    """One valid row. `attrs` holds the House fields the row sets (see the module's rules)."""

    row: int
    account_no: str
    community_code: str
    community_name: str
    building: str
    unit: str
    room: str
    attrs: dict[str, Any]

    @property
    def address(self) -> Address:
        return (self.community_code, self.building, self.unit, self.room)

    @property
    def unit_key(self) -> tuple[str, str, str]:
        return (self.community_code, self.building, self.unit)

    @property
    def keys(self) -> RowKeys:
        return RowKeys(
            self.row, self.account_no, self.community_code, self.community_name, self.address
        )


@dataclass
class ParsedFile:
    file_name: str
    total_rows: int
    rows: list[HouseRow]  # the valid rows
    errors: list[RowError]
    invalid_keys: list[RowKeys]  # of the rows with errors

    def all_keys(self) -> list[RowKeys]:
        return [row.keys for row in self.rows] + self.invalid_keys


class _Invalid(Exception):
    pass


# -- reading cells ------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as the text a person sees: 13911112222.0 → '13911112222', 89.5 → '89.5'."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"  # Excel shows 15 significant digits; so do we
    return tabular.csv_unescape(str(value).strip()).strip()


def _text(max_length: int, *, required: bool, no_spaces: bool = False) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not value:
            if required:
                raise _Invalid("必填。")
            return ""
        if len(value) > max_length:
            raise _Invalid(f"不能超过{max_length}个字符。")
        if no_spaces and re.search(r"\s", value):
            raise _Invalid("不能包含空格。")
        return value

    return parse


def _area(value: str) -> Decimal:
    if not value:
        raise _Invalid("必填。")
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise _Invalid(f"“{value}”不是数字。") from None
    if not number.is_finite():
        raise _Invalid(f"“{value}”不是数字。")
    if number < 0:
        raise _Invalid("不能为负数。")
    if number != number.quantize(Decimal("0.01")):
        raise _Invalid("最多保留两位小数。")
    if number >= Decimal("100000000"):
        raise _Invalid("数值过大。")
    return number.quantize(Decimal("0.01"))


def _floor(value: str) -> int | None:
    if not value:
        return None
    if not re.fullmatch(r"-?\d{1,3}", value):
        raise _Invalid("须为整数（地下层用负数）。")
    return int(value)


def owner_phone_clean(value: str) -> str:
    """An owner's phone as stored: 11 digits starting with 1, or empty. Spaces, dashes and a
    +86 prefix are dropped; anything else raises ValueError."""
    phone = re.sub(r"[\s-]", "", value)
    if phone.startswith("+86"):
        phone = phone[3:]
    if phone and not re.fullmatch(r"1\d{10}", phone):
        raise ValueError("须为以1开头的11位手机号码，或不填。")
    return phone


def _phone(value: str) -> str:
    try:
        return owner_phone_clean(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _choice(
    choices: type[models.TextChoices], words: dict[str, str]
) -> Callable[[str], str | None]:
    accepted: dict[str, str] = {}
    for value, label in choices.choices:
        accepted[str(value)] = str(value)
        accepted[str(label)] = str(value)
    accepted.update({word: value for value, word in words.items()})
    accepted.update({w: v for w, v in _SYNONYMS.items() if v in choices.values})
    if set(words) != set(choices.values):
        raise RuntimeError(f"every {choices.__name__} value needs its word in the file")
    allowed = "、".join(words.values())

    def parse(text: str) -> str | None:
        if not text:
            return None
        found = accepted.get(text.lower())
        if found is None:
            raise _Invalid(f"只能填写：{allowed}。")
        return found

    return parse


_PARSERS: dict[str, Callable[[str], Any]] = {
    "community_code": _text(20, required=True, no_spaces=True),
    "community_name": _text(100, required=True),
    "building": _text(40, required=True),
    "unit": _text(40, required=True),
    "room": _text(20, required=True),
    "floor": _floor,
    "account_no": _text(32, required=True, no_spaces=True),
    "building_area": _area,
    "heated_area": _area,
    "usage_type": _choice(House.UsageType, USAGE_WORDS),
    "user_type": _choice(House.UserType, USER_TYPE_WORDS),
    "heating_status": _choice(House.HeatingStatus, HEATING_WORDS),
    "meter_id": _text(40, required=False),
    "owner_name": _text(50, required=False),
    "owner_phone": _phone,
}


# -- reading the file ---------------------------------------------------------------------


def _header_map(cells: list[Any]) -> dict[int, str]:
    return {
        index: _HEADER_LOOKUP[name]
        for index, cell in enumerate(cells)
        if (name := _normalize_header(cell)) in _HEADER_LOOKUP
    }


def _find_header(rows: list[tuple[int, list[Any]]]) -> tuple[int, dict[int, str]]:
    """The header row (the first row naming at least three known columns) and its columns."""
    best: dict[int, str] = {}
    for number, cells in rows:
        mapping = _header_map(cells)
        if len(mapping) >= 3:
            return number, mapping
        best = max(best, mapping, key=len)
    missing = [c.header for c in COLUMNS if c.required and c.key not in best.values()]
    raise _missing_headers(missing)


def _missing_headers(missing: list[str]) -> Exception:
    return tabular.file_error(
        f"缺少必需的列：{'、'.join(missing)}。请使用导出文件或模板中的表头。",
        code="import_missing_headers",
    )


def parse_houses_file(*, file_name: str, data: bytes) -> ParsedFile:
    """Read and check every row of an uploaded house list.

    A file that cannot be used at all (type, size, encoding, headers, row count) raises
    `ValidationFailed`; problems in rows are collected, all of them, in `ParsedFile.errors`.
    """
    rows = tabular.iter_rows(file_name=file_name, data=data)
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    if not head:
        raise tabular.file_error("文件中没有任何内容。", code="import_file_empty")
    header_row, mapping = _find_header(head)
    keys = list(mapping.values())
    duplicated = sorted({HEADERS[k] for k in keys if keys.count(k) > 1})
    if duplicated:
        raise tabular.file_error(
            f"表头中有重复的列：{'、'.join(duplicated)}。", code="import_duplicate_headers"
        )
    missing = [c.header for c in COLUMNS if c.required and c.key not in keys]
    if missing:
        raise _missing_headers(missing)

    data_rows = [r for r in head if r[0] > header_row]
    # Read one row past the limit, never the whole of an oversized file.
    data_rows += itertools.islice(rows, max(MAX_HOUSE_ROWS + 1 - len(data_rows), 0))
    if len(data_rows) > MAX_HOUSE_ROWS:
        raise tabular.file_error(
            f"文件超过{MAX_HOUSE_ROWS}行数据，请拆分后分批导入。", code="import_too_many_rows"
        )
    if not data_rows:
        raise tabular.file_error("文件中只有表头，没有房屋数据。", code="import_file_empty")
    return _check_rows(file_name, data_rows, mapping)


def _check_rows(
    file_name: str, data_rows: list[tuple[int, list[Any]]], mapping: dict[int, str]
) -> ParsedFile:
    errors: list[RowError] = []
    valid: list[HouseRow] = []
    invalid_keys: list[RowKeys] = []
    first_row_of_account: dict[str, int] = {}
    first_row_of_address: dict[Address, int] = {}
    community_name_seen: dict[str, tuple[str, int]] = {}
    for number, cells in data_rows:
        row_errors: list[RowError] = []
        values: dict[str, Any] = {}
        for index, key in mapping.items():
            raw = cells[index] if index < len(cells) else None
            if isinstance(raw, dt.date | dt.time | dt.timedelta):
                row_errors.append(
                    RowError(number, HEADERS[key], "被识别成了日期或时间，请把该列设为文本后重填。")
                )
                continue
            try:
                values[key] = _PARSERS[key](cell_text(raw))
            except _Invalid as exc:
                row_errors.append(RowError(number, HEADERS[key], str(exc)))

        account_no = values.get("account_no")
        if account_no:
            first = first_row_of_account.setdefault(account_no, number)
            if first != number:
                row_errors.append(RowError(number, "户号", f"户号与第{first}行重复。"))
        address: Address | None = None
        if all(values.get(k) for k in ("community_code", "building", "unit", "room")):
            address = (values["community_code"], values["building"], values["unit"], values["room"])
            first = first_row_of_address.setdefault(address, number)
            if first != number:
                row_errors.append(
                    RowError(number, "房号", f"小区、楼栋、单元、房号与第{first}行重复。")
                )
        code, name = values.get("community_code"), values.get("community_name")
        if code and name:
            seen_name, seen_row = community_name_seen.setdefault(code, (name, number))
            if seen_name != name:
                row_errors.append(
                    RowError(
                        number,
                        "小区名称",
                        f"小区编码{code}在第{seen_row}行的名称是“{seen_name}”，与此处不一致。",
                    )
                )

        if row_errors:
            errors.extend(row_errors)
            invalid_keys.append(RowKeys(number, account_no, code, name, address))
            continue
        attrs = {k: v for k, v in values.items() if k in HOUSE_ATTRS and v is not None}
        if "floor" in values:
            attrs["floor"] = values["floor"]  # blank clears the floor
        valid.append(
            HouseRow(
                row=number,
                account_no=values["account_no"],
                community_code=values["community_code"],
                community_name=values["community_name"],
                building=values["building"],
                unit=values["unit"],
                room=values["room"],
                attrs=attrs,
            )
        )
    return ParsedFile(
        file_name=file_name,
        total_rows=len(data_rows),
        rows=valid,
        errors=errors,
        invalid_keys=invalid_keys,
    )
