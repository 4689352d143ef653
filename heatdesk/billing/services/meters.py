"""Heat-meter readings: import a season's readings from .xlsx or .csv (every row checked, nothing
written unless all are valid), and settle two-part bills on them after the season."""

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain, terms
from heatdesk.billing.bulk import public_ids
from heatdesk.billing.calculation import (
    CalculationError,
    DraftLine,
    basic_fee,
    metered_fee,
    metered_settlement,
)
from heatdesk.billing.calculation.changes import REVERSAL_REASONS
from heatdesk.billing.choices import BillLineKind, MeteredUnit, Pricing
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, MeterReading
from heatdesk.billing.selectors import bill_live_for
from heatdesk.billing.services import ledger
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.estates import tabular
from heatdesk.estates.models import House

MAX_ROWS = 50_000
HEADER_SEARCH_ROWS = 5
ERRORS_REPORTED = 200
COLUMNS = {
    "account_no": ("户号", ("account_no", "用户编号")),
    "meter_id": ("热表编号", ("meter_id", "表号", "热表号")),
    "start_reading": ("起始读数", ("start_reading", "起始", "上期读数")),
    "end_reading": ("结束读数", ("end_reading", "结束", "本期读数")),
    "unit": ("单位", ("unit", "计量单位")),
    "read_on": ("抄表日期", ("read_on", "日期")),
}
REQUIRED = ("account_no", "start_reading", "end_reading", "unit", "read_on")
UNITS = {
    "gj": MeteredUnit.GJ,
    "吉焦": MeteredUnit.GJ,
    "kwh": MeteredUnit.KWH,
    "千瓦时": MeteredUnit.KWH,
}


def _normalize(value: Any) -> str:
    text = re.sub(r"[（(][^)）]*[)）]", "", str(value or "").strip().lower())
    return re.sub(r"[\s_\-*：:]", "", text)


_LOOKUP = {
    _normalize(name): key
    for key, (header, aliases) in COLUMNS.items()
    for name in (header, key, *aliases)
}


@dataclass(frozen=True)
class Reading:
    row: int
    account_no: str
    meter_id: str
    start_reading: Decimal
    end_reading: Decimal
    unit: str
    read_on: dt.date


@dataclass(frozen=True)
class MeterImport:
    import_ref: str
    created: int


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return tabular.csv_unescape(str(cell).strip())


def _reading(cell: Any) -> Decimal:
    try:
        value = Decimal(_text(cell).replace(",", ""))
    except InvalidOperation:
        raise ValueError("不是有效的数字") from None
    if not value.is_finite() or value < 0:
        raise ValueError("须为不小于0的数字")
    if value != value.quantize(Decimal("0.001")):
        raise ValueError("最多3位小数")
    if value >= Decimal("1e11"):
        raise ValueError("数值过大")
    return value


def _day(cell: Any) -> dt.date:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    text = _text(cell).replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("日期格式应为 2027-03-16") from None


def _parse(*, file_name: str, data: bytes) -> tuple[list[Reading], list[tuple[int, str, str]]]:
    rows = tabular.iter_rows(file_name=file_name, data=data)
    header: dict[str, int] | None = None
    for number, cells in rows:
        found = {_LOOKUP[_normalize(c)]: i for i, c in enumerate(cells) if _normalize(c) in _LOOKUP}
        if "account_no" in found:
            header = found
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header is None:
        raise tabular.file_error("未找到表头：文件中须有“户号”列。", code="import_header_missing")
    missing = [COLUMNS[key][0] for key in REQUIRED if key not in header]
    if missing:
        raise tabular.file_error(
            f"缺少必填列：{'、'.join(missing)}。", code="import_header_missing"
        )
    readings: list[Reading] = []
    errors: list[tuple[int, str, str]] = []
    seen: dict[str, int] = {}
    for number, cells in rows:
        if len(readings) + len(errors) >= MAX_ROWS:
            raise tabular.file_error(
                f"超过{MAX_ROWS}行，请拆分后分批导入。", code="import_too_many_rows"
            )

        def cell(key: str, cells: list[Any] = cells) -> Any:
            index = header.get(key)
            return cells[index] if index is not None and index < len(cells) else None

        row_errors: list[tuple[int, str, str]] = []
        values: dict[str, Any] = {}
        for key, parse in (
            ("start_reading", _reading),
            ("end_reading", _reading),
            ("read_on", _day),
        ):
            try:
                values[key] = parse(cell(key))
            except ValueError as exc:
                row_errors.append((number, COLUMNS[key][0], str(exc)))
        account_no = _text(cell("account_no"))
        if not account_no:
            row_errors.append((number, "户号", "请填写户号"))
        elif account_no in seen:
            row_errors.append((number, "户号", f"与第{seen[account_no]}行重复"))
        else:
            seen[account_no] = number
        unit = UNITS.get(_normalize(cell("unit")))
        if unit is None:
            row_errors.append((number, "单位", "单位须为 GJ 或 kWh"))
        if not row_errors and values["end_reading"] < values["start_reading"]:
            row_errors.append((number, "结束读数", "结束读数不能小于起始读数"))
        if row_errors or unit is None:
            errors.extend(row_errors)
            continue
        readings.append(
            Reading(
                row=number,
                account_no=account_no,
                meter_id=_text(cell("meter_id"))[:40],
                unit=unit,
                **values,
            )
        )
    return readings, errors


def _refuse(errors: list[tuple[int, str, str]]) -> ValidationFailed:
    errors.sort()
    fields: dict[str, list[str]] = {}
    for row, column, message in errors[:ERRORS_REPORTED]:
        fields.setdefault(f"第{row}行 {column}", []).append(message)
    more = f"（仅列出前{ERRORS_REPORTED}处）" if len(errors) > ERRORS_REPORTED else ""
    return ValidationFailed(
        f"导入文件有 {len(errors)} 处错误{more}，未写入任何数据，请改正后重新导入。",
        code="import_rows_invalid",
        fields=fields,
    )


def meter_readings_import(
    *, season: HeatingSeason, file_name: str, data: bytes, by: User | None
) -> MeterImport:
    """Import a season's readings, one row per house. Every row is checked (numbers, dates,
    units, known 户号, the house's meter id, one reading per house and season); if any row is
    wrong nothing is written and every error is reported with its row number."""
    readings, errors = _parse(file_name=file_name, data=data)
    houses = {
        h.account_no: h
        for h in House.objects.filter(account_no__in=[r.account_no for r in readings]).only(
            "id", "account_no", "meter_id"
        )
    }
    already = set(
        MeterReading.objects.filter(season=season, house__in=houses.values()).values_list(
            "house__account_no", flat=True
        )
    )
    for reading in readings:
        house = houses.get(reading.account_no)
        if house is None:
            errors.append((reading.row, "户号", "户号不存在"))
        elif reading.meter_id and house.meter_id and reading.meter_id != house.meter_id:
            errors.append((reading.row, "热表编号", f"与该户登记的热表编号 {house.meter_id} 不符"))
        elif reading.account_no in already:
            errors.append((reading.row, "户号", f"该户{season.code}采暖季已有读数"))
    if errors:
        raise _refuse(errors)
    if not readings:
        raise tabular.file_error("文件中没有读数。", code="import_file_empty")
    (ref,) = public_ids("mi", 1)
    try:
        with transaction.atomic():
            MeterReading.objects.bulk_create(
                [
                    MeterReading(
                        house=houses[r.account_no],
                        season=season,
                        meter_id=r.meter_id or houses[r.account_no].meter_id,
                        start_reading=r.start_reading,
                        end_reading=r.end_reading,
                        quantity=r.end_reading - r.start_reading,
                        unit=r.unit,
                        read_on=r.read_on,
                        import_ref=ref,
                        imported_by=by,
                    )
                    for r in readings
                ],
                batch_size=2000,
            )
            audit_record(
                actor=by,
                action="billing.meter_readings_import",
                obj=season,
                after={
                    "import_ref": ref,
                    "rows": len(readings),
                    "file": file_name[:200],
                    "sha256": hashlib.sha256(data).hexdigest(),
                },
            )
    except IntegrityError:
        raise Conflict(
            "导入期间其他操作写入了同样房屋的读数，未写入任何数据，请重新导入。",
            code="import_conflict",
        ) from None
    return MeterImport(import_ref=ref, created=len(readings))


# --- Settlement ---------------------------------------------------------------------------------


def _heated_segments(lines: list[BillLine]) -> list[tuple[dt.date, dt.date]]:
    """The days the bill charges the area fee for: its area-fee lines, less the days a stop
    took back. Consecutive days make one segment."""
    days: set[dt.date] = set()
    for line in lines:
        if line.period_from is None or line.period_to is None:
            continue
        span = {
            line.period_from + dt.timedelta(days=n)
            for n in range((line.period_to - line.period_from).days + 1)
        }
        if line.kind == BillLineKind.AREA_FEE:
            days |= span
        elif line.reason == REVERSAL_REASONS[BillLineKind.AREA_FEE]:
            days -= span
    segments: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if segments and segments[-1][1] + dt.timedelta(days=1) == day:
            segments[-1] = (segments[-1][0], day)
        else:
            segments.append((day, day))
    return segments


def _advance_fen(lines: list[BillLine]) -> int:
    """The area fee billed in advance, net of what stops took back."""
    return sum(
        line.amount_fen
        for line in lines
        if line.kind == BillLineKind.AREA_FEE
        or line.reason == REVERSAL_REASONS[BillLineKind.AREA_FEE]
    )


def settlement_lines(*, bill: Bill, reading: MeterReading) -> list[DraftLine]:
    """The settlement of a two-part bill: the basic fee for its heated days, the metered heat,
    less the area fee billed in advance (and the cap when the tariff refunds only)."""
    tariff_terms = terms.tariff_terms(bill.tariff)
    if reading.unit != tariff_terms.metered_unit:
        raise Conflict(
            f"读数单位 {reading.unit} 与热价的计量单位 {tariff_terms.metered_unit} 不符。",
            code="reading_unit_mismatch",
        )
    lines = list(BillLine.objects.filter(bill=bill).order_by("id"))
    season = terms.season_dates(bill.season)
    area = terms.chargeable_area_of_bill(bill)
    if tariff_terms.metered_price is None:
        raise Conflict("该热价没有计量热价，不能结算。", code="bill_not_metered")
    charges = [
        basic_fee(area=area, terms=tariff_terms, first=first, last=last, season_days=season.days)
        for first, last in _heated_segments(lines)
    ]
    charges.append(
        metered_fee(quantity=reading.quantity, unit=reading.unit, price=tariff_terms.metered_price)
    )
    settled = metered_settlement(
        advance_fen=_advance_fen(lines), charges=charges, terms=tariff_terms
    )
    return [line for line in settled if line.amount_fen]


def bill_settle_metered(*, bill: Bill, by: User | None) -> Bill:
    """Settle a two-part bill on the house's reading for the season, once, after the season:
    new lines replace the area fee billed in advance. Money paid beyond the settled amount
    becomes account credit (多退), a shortfall is owed (少补) unless the tariff caps it."""
    with transaction.atomic():
        ledger.house_lock(bill.house_id)
        row = Bill.objects.select_related("season", "tariff").get(pk=bill.pk)
        if row.pricing != Pricing.TWO_PART:
            raise Conflict("该账单不是两部制计费，无需计量结算。", code="bill_not_metered")
        if clock.local_today() <= row.season.heating_end:
            raise Conflict(
                f"{row.season.code}采暖季 {explain.day(row.season.heating_end)} 结束后才能结算。",
                code="season_not_over",
            )
        reading = (
            MeterReading.objects.select_for_update()
            .filter(house_id=row.house_id, season_id=row.season_id)
            .first()
        )
        if reading is None:
            raise Conflict("该户本季没有热表读数，请先导入。", code="reading_missing")
        if reading.settled_at is not None:
            raise Conflict("该户本季已结算。", code="bill_already_settled")
        try:
            lines = settlement_lines(bill=row, reading=reading)
        except CalculationError as exc:
            raise Conflict(str(exc), code="settlement_invalid") from exc
        now = clock.now()
        posted = ledger.bill_lines_post(
            bill=row,
            lines=lines,
            by=by,
            explanation=(
                f"{row.season.code}采暖季计量结算：用热 {explain.quantity(reading.quantity)}"
                f"{reading.unit}"
            ),
            at=now,
        )
        if posted.entry is not None:
            ledger.credit_apply(house_id=row.house_id, cause=posted.entry, by=by, at=now)
        if not MeterReading.objects.filter(pk=reading.pk, settled_at=None).update(
            settled_at=now, settled_by=by, settled_bill=row
        ):
            raise Conflict("该户本季已结算。", code="bill_already_settled")
        audit_record(
            actor=by,
            action="billing.bill_settle_metered",
            obj=row,
            before={"total_fen": row.total_fen - sum(x.amount_fen for x in lines)},
            after={"total_fen": row.total_fen, "reading_id": reading.pk},
        )
    bill.refresh_from_db()
    return bill


@dataclass(frozen=True)
class SeasonSettlement:
    settled: int
    refused: dict[str, str]  # 户号 → why


def season_settle_metered(*, season: HeatingSeason, by: User | None) -> SeasonSettlement:
    """Settle every two-part bill of the season that has an unsettled reading, each in its own
    transaction; the ones refused are reported by 户号 and stay as they were."""
    settled = 0
    refused: dict[str, str] = {}
    pending = (
        MeterReading.objects.filter(season=season, settled_at=None)
        .select_related("house")
        .order_by("house_id")
    )
    for reading in pending:
        bill = bill_live_for(house=reading.house, season=season)
        if bill is None or bill.pricing != Pricing.TWO_PART:
            continue
        try:
            bill_settle_metered(bill=bill, by=by)
        except Conflict as exc:
            refused[reading.house.account_no] = exc.message
        else:
            settled += 1
    return SeasonSettlement(settled=settled, refused=refused)
