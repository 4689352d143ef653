import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from heatdesk.audit.models import AuditEntry
from heatdesk.core.errors import ValidationFailed
from heatdesk.estates.exports import houses_export
from heatdesk.estates.imports import houses_import
from heatdesk.estates.models import House
from heatdesk.estates.tests.files import HEADER, csv_bytes, read_csv, read_xlsx, row
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

ROWS = [
    row("GX0001", room="101", floor="1", owner="王秀英", phone="13911112222", meter="M-01"),
    row(
        "GX0002",
        building="2号楼",
        unit="3单元",
        room="502",
        floor="",
        building_area="120.25",
        heated_area="0",
        usage="非居民",
        user_type="低保",
        status="停供",
        owner="",
        phone="",
    ),
    row("0012", community=("DF02", "东方花园"), room="-1", floor="-1", owner="=SUM(A1)"),
]


def _import_rows() -> None:
    report = houses_import(file_name="seed.csv", data=csv_bytes(ROWS), imported_by=None)
    assert report.committed, report.errors


def _raw_tables() -> dict[str, list[tuple]]:
    """Every stored byte of the estates tables, ciphertexts and timestamps included."""
    tables = {}
    with connection.cursor() as cursor:
        for table in ("estates_community", "estates_building", "estates_unit", "estates_house"):
            cursor.execute(f"SELECT * FROM {table} ORDER BY id")  # noqa: S608 - fixed names
            tables[table] = cursor.fetchall()
    return tables


def test_the_xlsx_export_has_the_import_columns_and_every_house():
    _import_rows()
    # when
    data = houses_export(fmt="xlsx")
    # then
    rows = read_xlsx(data)
    assert rows[0] == HEADER
    assert rows[1:] == [
        ["DF02", "东方花园", "1号楼", "1单元", "-1", -1, "0012", 89.5, 85, "居民", "普通"]
        + ["供热", None, "=SUM(A1)", "13800001234"],
        ["GX01", "光辉小区", "1号楼", "1单元", "101", 1, "GX0001", 89.5, 85, "居民", "普通"]
        + ["供热", "M-01", "王秀英", "13911112222"],
        ["GX01", "光辉小区", "2号楼", "3单元", "502", None, "GX0002", 120.25, 0, "非居民"]
        + ["低保", "停供", None, None, None],
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["N2"].data_type == "s"  # text that looks like a formula stays text
    assert sheet["H3"].number_format == "0.00"


def test_the_csv_export_is_utf8_with_bom_and_escapes_formulas():
    _import_rows()
    # when
    data = houses_export(fmt="csv")
    # then
    assert data.startswith(b"\xef\xbb\xbf")
    rows = read_csv(data)
    assert rows[0] == HEADER
    assert rows[1] == [
        "DF02",
        "东方花园",
        "1号楼",
        "1单元",
        "-1",
        "-1",
        "0012",
        "89.50",
        "85.00",
        "居民",
        "普通",
        "供热",
        "",
        "'=SUM(A1)",
        "13800001234",
    ]
    assert rows[3][5:9] == ["", "GX0002", "120.25", "0.00"]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_reimports_without_changing_a_byte(fmt):
    _import_rows()
    make_house(account_no="HT0009", owner_name="赵六", owner_phone="13600000000", floor=7)
    before = _raw_tables()
    exported = houses_export(fmt=fmt)
    # when
    report = houses_import(file_name=f"export.{fmt}", data=exported, imported_by=None)
    # then
    assert report.committed, report.errors
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert _raw_tables() == before


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_edited_export_updates_only_the_edited_house(fmt):
    _import_rows()
    exported = houses_export(fmt=fmt)
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(exported))
        book.worksheets[0]["O3"] = "13500001111"
        buffer = io.BytesIO()
        book.save(buffer)
        edited = buffer.getvalue()
    else:
        edited = exported.replace(b"13911112222", b"13500001111")
    untouched = House.objects.get(account_no="GX0002").updated_at
    # when
    report = houses_import(file_name=f"edited.{fmt}", data=edited, imported_by=None)
    # then
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert House.objects.get(account_no="GX0001").owner_phone == "13500001111"
    assert House.objects.get(account_no="GX0002").updated_at == untouched


def test_the_export_can_be_limited_to_communities():
    _import_rows()
    # when
    rows = read_csv(houses_export(fmt="csv", community_codes=["DF02", " "]))
    # then
    assert [r[6] for r in rows[1:]] == ["0012"]


def test_an_export_is_written_to_the_audit_log(admin_user):
    _import_rows()
    # when
    houses_export(fmt="xlsx", community_codes=["GX01"], exported_by=admin_user)
    # then
    entry = AuditEntry.objects.get(action="estates.houses_export")
    assert entry.actor == admin_user
    assert entry.after == {"format": "xlsx", "rows": 2, "community_codes": ["GX01"]}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"fmt": "xls"}, "export_format"),
        ({"fmt": "csv", "community_codes": ["GX01", "NOPE"]}, "community_not_found"),
    ],
)
def test_a_bad_export_request_is_refused_and_not_logged(kwargs, code):
    _import_rows()
    audits = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        houses_export(**kwargs)
    assert refused.value.code == code
    assert AuditEntry.objects.count() == audits


def test_an_empty_estate_exports_the_header_only():
    assert read_xlsx(houses_export(fmt="xlsx")) == [HEADER]
    assert read_csv(houses_export(fmt="csv")) == [HEADER]


def test_the_export_command_writes_the_file(tmp_path, capsys):
    _import_rows()
    path = tmp_path / "all.csv"
    # when
    call_command("export_houses", str(path), "--community", "GX01")
    # then
    rows = read_csv(path.read_bytes())
    assert [r[6] for r in rows[1:]] == ["GX0001", "GX0002"]
    assert "已导出到" in capsys.readouterr().out
    xlsx = tmp_path / "all.data"
    call_command("export_houses", str(xlsx), "--format", "xlsx")
    assert len(read_xlsx(xlsx.read_bytes())) == 4
    assert House.objects.get(account_no="GX0002").heated_area == Decimal("0.00")


def test_the_export_command_exits_1_for_an_unknown_community(tmp_path):
    path = tmp_path / "x.xlsx"
    with pytest.raises(CommandError) as failed:
        call_command("export_houses", str(path), "--community", "NOPE")
    assert failed.value.returncode == 1
    assert not path.exists()
