"""Tables as files: read the rows of an .xlsx or .csv upload, write rows as .xlsx or .csv.

Reading never trusts the upload: the size, the unzipped size of a workbook and the number of
rows are bounded, and anything that cannot be read becomes a `ValidationFailed` with a message
for people, never an exception from deep inside a parser.
"""

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell

from heatdesk.core.errors import ValidationFailed

MAX_FILE_BYTES = 20 * 1024 * 1024
# A 20 MB workbook of repeated cells can unzip to gigabytes; real exports stay far below this.
MAX_UNZIPPED_BYTES = 400 * 1024 * 1024
EXTENSIONS = (".xlsx", ".csv")

Cell = Any  # str, int, float, Decimal, bool, datetime/date/time or None (from a workbook)


def file_error(message: str, *, code: str) -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={"file": [message]})


def extension_of(file_name: str) -> str:
    name = (file_name or "").strip().lower()
    for ext in EXTENSIONS:
        if name.endswith(ext):
            return ext
    raise file_error("只支持 .xlsx 或 .csv 格式的文件。", code="import_file_type")


def check_size(size: int) -> None:
    if size == 0:
        raise file_error("文件为空。", code="import_file_empty")
    if size > MAX_FILE_BYTES:
        raise file_error(
            f"文件超过{MAX_FILE_BYTES // (1024 * 1024)}MB，请拆分后分批导入。",
            code="import_file_too_large",
        )


def iter_rows(*, file_name: str, data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    """The non-blank rows of the first sheet (or of the CSV), each with its row number as Excel
    shows it. The name and size are checked at once; rows are read lazily, so a caller can stop
    at a row limit without reading the rest."""
    ext = extension_of(file_name)
    check_size(len(data))
    source = _xlsx_rows(data) if ext == ".xlsx" else _csv_rows(data)
    return ((n, list(cells)) for n, cells in source if not all(_blank(c) for c in cells))


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _unreadable(kind: str) -> ValidationFailed:
    return file_error(
        f"无法读取该{kind}文件，请确认文件未损坏，并另存为标准格式后重试。",
        code="import_file_unreadable",
    )


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Sequence[Cell]]]:
    if not data.startswith(b"PK\x03\x04"):
        raise _unreadable("Excel")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise _unreadable("Excel") from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise file_error("Excel 文件解压后过大，请拆分后分批导入。", code="import_file_too_large")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many types (zip, XML, key errors) for a broken file
        raise _unreadable("Excel") from None
    try:
        if not workbook.worksheets:
            raise _unreadable("Excel")
        sheet = workbook.worksheets[0]
        # Some programs write a wrong <dimension>; without this, rows past it would be lost.
        sheet.reset_dimensions()
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        while True:
            try:
                item = next(rows)
            except StopIteration:
                return
            except Exception:  # a corrupt sheet part fails only while its rows are parsed
                raise _unreadable("Excel") from None
            yield item
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else GB18030,
    the superset of GBK and GB2312 that older Chinese systems write."""
    if data.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8", data[len(codecs.BOM_UTF8) :])]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = [("utf-16", data)]
    else:
        candidates = [("utf-8", data), ("gb18030", data)]
    for encoding, payload in candidates:
        try:
            text = payload.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:  # binary content that happens to decode
            break
        return text
    raise file_error(
        "无法识别 CSV 文件的编码，请另存为 UTF-8 或 GBK 编码的 CSV 文件。",
        code="import_file_unreadable",
    )


def _csv_rows(data: bytes) -> Iterator[tuple[int, Sequence[Cell]]]:
    text = _decode(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    # Record n is row n in Excel, even when a quoted cell holds a line break.
    records = enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1)
    while True:
        try:
            item = next(records)
        except StopIteration:
            return
        except csv.Error:
            raise _unreadable("CSV") from None
        yield item


_FORMULA_START = ("=", "+", "-", "@")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_escape(value: str) -> str:
    """Text that Excel would run as a formula gets a leading apostrophe (CSV injection)."""
    if value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_unescape(value: str) -> str:
    """Undo `csv_escape`, and unwrap ="0012", which some systems write to keep leading zeros."""
    if len(value) >= 2 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    if len(value) >= 3 and value.startswith('="') and value.endswith('"'):
        return value[2:-1]
    return value


def write_csv(*, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """UTF-8 with BOM, so Excel on a Chinese Windows opens it without garbling."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else csv_escape(str(v)) for v in row])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def write_xlsx(
    *,
    sheet_title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    number_formats: dict[int, str],
) -> bytes:
    """A streamed workbook. Strings are always stored as text, never as formulas, so a value
    such as "=1+1" or "0012" comes back exactly as written."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(list(header))
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            elif index in number_formats and value is not None:
                cell.number_format = number_formats[index]
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
