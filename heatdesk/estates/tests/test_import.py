import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from heatdesk.accounts.services import phone_hash
from heatdesk.audit.models import AuditEntry
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.estates import importing, imports
from heatdesk.estates.imports import houses_import
from heatdesk.estates.models import Building, Community, House, Unit
from heatdesk.estates.tests.files import HEADER, csv_bytes, row, xlsx_bytes
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, int, int, int, int]:
    return (
        Community.objects.count(),
        Building.objects.count(),
        Unit.objects.count(),
        House.objects.count(),
        AuditEntry.objects.count(),
    )


def _house(account_no: str) -> House:
    return House.objects.select_related("unit__building__community").get(account_no=account_no)


TWO_HOUSES = [
    row("GX0001", room="101", floor="1", owner="王秀英", phone="13911112222", meter="M-01"),
    row(
        "GX0002",
        building="2号楼",
        unit="3单元",
        room="502",
        floor="5",
        building_area="120.25",
        heated_area="118",
        usage="非居民",
        user_type="低保",
        status="报停",
        owner="李强",
        phone="",
    ),
]


def _assert_two_houses_imported() -> None:
    first, second = _house("GX0001"), _house("GX0002")
    assert first.address == "光辉小区1号楼1单元101室"
    assert (first.floor, first.building_area, first.heated_area) == (
        1,
        Decimal("89.50"),
        Decimal("85.00"),
    )
    assert (first.usage_type, first.user_type, first.heating_status) == (
        "residential",
        "normal",
        "heating",
    )
    assert first.meter_id == "M-01"
    assert (first.owner_name, first.owner_phone) == ("王秀英", "13911112222")
    assert first.owner_phone_hash == phone_hash("13911112222")
    assert second.address == "光辉小区2号楼3单元502室"
    assert (second.floor, second.building_area, second.heated_area) == (
        5,
        Decimal("120.25"),
        Decimal("118.00"),
    )
    assert (second.usage_type, second.user_type, second.heating_status) == (
        "non_residential",
        "low_income",
        "stopped",
    )
    assert (second.owner_name, second.owner_phone, second.owner_phone_hash) == ("李强", "", "")
    assert Community.objects.get(code="GX01").name == "光辉小区"
    assert sorted(Building.objects.values_list("name", flat=True)) == ["1号楼", "2号楼"]
    assert sorted(Unit.objects.values_list("building__name", "name")) == [
        ("1号楼", "1单元"),
        ("2号楼", "3单元"),
    ]


def test_a_valid_xlsx_creates_communities_buildings_units_and_houses(admin_user):
    # when
    report = houses_import(
        file_name="房屋清单.xlsx", data=xlsx_bytes(TWO_HOUSES), imported_by=admin_user
    )
    # then
    assert report.ok
    assert report.committed
    assert (report.total_rows, report.created, report.updated, report.unchanged) == (2, 2, 0, 0)
    assert (report.communities_created, report.buildings_created, report.units_created) == (
        1,
        2,
        2,
    )
    _assert_two_houses_imported()
    entry = AuditEntry.objects.get(action="estates.houses_import")
    assert entry.actor == admin_user
    assert entry.object_type == "estates.house_import"
    assert len(entry.object_id) == 64
    assert entry.after == {
        "file_name": "房屋清单.xlsx",
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "communities_created": 1,
        "buildings_created": 2,
        "units_created": 2,
    }


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "utf-8"])
def test_a_valid_csv_in_utf8_with_or_without_bom_or_gbk_creates_the_houses(encoding):
    data = csv_bytes(TWO_HOUSES, encoding=encoding)
    # when
    report = houses_import(file_name="houses.CSV", data=data, imported_by=None)
    # then
    assert report.committed, report.errors
    assert report.created == 2
    _assert_two_houses_imported()
    assert AuditEntry.objects.get().actor_label == "system"


def test_english_headers_a_title_row_and_unknown_columns_are_accepted():
    header = ["Community Code", "community_name", "building", "unit", "room", "floor"]
    header += ["account_no", "building_area", "heated_area", "usage_type", "user_type"]
    header += ["heating_status", "meter_id", "owner_name", "owner_phone", "备注"]
    data = csv_bytes(
        [header, [*TWO_HOUSES[0], "老用户"], [*TWO_HOUSES[1], ""]],
        header=["光辉供热公司房屋信息表", "", ""],
    )
    # when
    report = houses_import(file_name="houses.csv", data=data, imported_by=None)
    # then
    assert report.committed, report.errors
    _assert_two_houses_imported()


def test_errors_on_several_rows_are_all_reported_and_nothing_is_written(house_a):
    before = _counts()
    house_a_room = house_a.room
    rows = [
        row("GX0001"),  # row 2: valid
        row("", room="102", building_area="abc", heated_area="-1"),  # row 3
        row("GX0003", room="103", building_area="89.555", floor="二"),  # row 4
        row("GX0004", room="104", phone="2391111222", usage="商业", status="停暖"),  # row 5
        row("GX0001", room="105"),  # row 6: 户号 repeats row 2
        row("GX0006", room="101"),  # row 7: address repeats row 2
        row(house_a.account_no, room="999", phone="123"),  # row 8: 户号 exists elsewhere
        row("GX0008", room="108", community=("GX01", "别的名字"), owner="张" * 51),  # row 9
        row("GX0009", room="109", user_type="特困", phone="1391111222a"),  # row 10
    ]
    # when
    report = houses_import(file_name="houses.xlsx", data=xlsx_bytes(rows), imported_by=None)
    # then
    assert not report.ok
    assert not report.committed
    found = [(e.row, e.column) for e in report.errors]
    assert found == [
        (3, "户号"),
        (3, "建筑面积"),
        (3, "供热面积"),
        (4, "楼层"),
        (4, "建筑面积"),
        (5, "用途"),
        (5, "供热状态"),
        (5, "户主电话"),
        (6, "户号"),
        (7, "房号"),
        (8, "户号"),
        (8, "户主电话"),
        (9, "小区名称"),
        (9, "户主姓名"),
        (10, "用户类型"),
        (10, "户主电话"),
    ]
    messages = {(e.row, e.column): e.message for e in report.errors}
    assert messages[(3, "户号")] == "必填。"
    assert messages[(3, "建筑面积")] == "“abc”不是数字。"
    assert messages[(3, "供热面积")] == "不能为负数。"
    assert messages[(4, "建筑面积")] == "最多保留两位小数。"
    assert messages[(5, "用途")] == "只能填写：居民、非居民。"
    assert messages[(5, "户主电话")] == "须为以1开头的11位手机号码，或不填。"
    assert messages[(6, "户号")] == "户号与第2行重复。"
    assert messages[(7, "房号")] == "小区、楼栋、单元、房号与第2行重复。"
    assert house_a.address in messages[(8, "户号")]
    assert "第2行" in messages[(9, "小区名称")]
    assert (report.created, report.updated) == (0, 0)
    assert _counts() == before
    assert _house(house_a.account_no).room == house_a_room


def test_reimporting_the_same_file_updates_and_does_not_duplicate():
    houses_import(file_name="a.xlsx", data=xlsx_bytes(TWO_HOUSES), imported_by=None)
    first_ids = dict(House.objects.values_list("account_no", "pk"))
    # when: the same file again
    again = houses_import(file_name="a.xlsx", data=xlsx_bytes(TWO_HOUSES), imported_by=None)
    # then
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert dict(House.objects.values_list("account_no", "pk")) == first_ids
    assert (Community.objects.count(), Building.objects.count(), Unit.objects.count()) == (1, 2, 2)

    # when: a changed copy
    changed = [
        row("GX0001", room="101", floor="1", owner="王秀英", phone="13700009999", status="报停"),
        TWO_HOUSES[1],
    ]
    report = houses_import(file_name="a.xlsx", data=xlsx_bytes(changed), imported_by=None)
    # then
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert dict(House.objects.values_list("account_no", "pk")) == first_ids
    house = _house("GX0001")
    assert house.heating_status == "stopped"
    assert (house.owner_phone, house.meter_id) == ("13700009999", "")
    assert house.owner_phone_hash == phone_hash("13700009999")
    assert AuditEntry.objects.filter(action="estates.houses_import").count() == 3


def test_an_existing_account_number_at_the_same_address_updates_that_house():
    house = make_house(account_no="HT0099", owner_phone="13800001234", heated_area=Decimal("70"))
    unit = house.unit
    community = unit.building.community
    line = row(
        "HT0099",
        community=(community.code, community.name),
        building=unit.building.name,
        unit=unit.name,
        room=house.room,
        heated_area="80.5",
        phone="13600006666",
    )
    before = _counts()
    # when
    report = houses_import(file_name="x.csv", data=csv_bytes([line]), imported_by=None)
    # then
    assert (report.created, report.updated) == (0, 1)
    house.refresh_from_db()
    assert house.heated_area == Decimal("80.50")
    assert house.owner_phone == "13600006666"
    assert house.owner_phone_hash == phone_hash("13600006666")
    assert _counts()[:4] == before[:4]


def test_a_new_account_number_at_an_occupied_address_is_refused():
    house = make_house(account_no="HT0100")
    unit = house.unit
    community = unit.building.community
    line = row(
        "HT0101",
        community=(community.code, community.name),
        building=unit.building.name,
        unit=unit.name,
        room=house.room,
    )
    before = _counts()
    # when
    report = houses_import(file_name="x.csv", data=csv_bytes([line]), imported_by=None)
    # then
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (2, "房号", "该地址已登记为户号HT0100，不能再登记新户号。")
    ]
    assert _counts() == before


def test_a_community_code_that_exists_under_another_name_is_refused():
    Community.objects.create(code="GX01", name="光明小区")
    before = _counts()
    # when
    report = houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None)
    # then
    assert [(e.row, e.column) for e in report.errors] == [(2, "小区名称"), (3, "小区名称")]
    assert "光明小区" in report.errors[0].message
    assert _counts() == before


def test_a_dry_run_counts_what_would_change_and_writes_nothing():
    before = _counts()
    # when
    report = houses_import(
        file_name="x.xlsx", data=xlsx_bytes(TWO_HOUSES), imported_by=None, dry_run=True
    )
    # then
    assert report.ok
    assert not report.committed
    assert (report.created, report.communities_created, report.units_created) == (2, 1, 2)
    assert _counts() == before


def test_the_owner_phone_and_name_are_stored_encrypted():
    houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None)
    # when
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT owner_phone, owner_name FROM estates_house WHERE account_no = %s", ["GX0001"]
        )
        raw_phone, raw_name = cursor.fetchone()
    # then
    assert raw_phone.startswith("v1:")
    assert raw_name.startswith("v1:")
    assert "13911112222" not in raw_phone
    assert "1111" not in raw_phone
    assert "王秀英" not in raw_name
    assert _house("GX0001").owner_phone == "13911112222"


def test_an_update_keeps_the_phone_encrypted():
    houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None)
    changed = [row("GX0001", owner="王秀英", phone="13511110000", meter="M-01"), TWO_HOUSES[1]]
    # when
    report = houses_import(file_name="x.csv", data=csv_bytes(changed), imported_by=None)
    # then
    assert report.updated == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner_phone FROM estates_house WHERE account_no = %s", ["GX0001"])
        (raw_phone,) = cursor.fetchone()
    assert raw_phone.startswith("v1:")
    assert "13511110000" not in raw_phone
    assert _house("GX0001").owner_phone == "13511110000"


def test_excel_numbers_are_read_as_a_person_sees_them():
    line = row(
        20240001, floor=3, building_area=89.5, heated_area=0.1 + 0.2, phone=13911112222, room=101
    )
    # when
    report = houses_import(file_name="x.xlsx", data=xlsx_bytes([line]), imported_by=None)
    # then
    assert report.committed, report.errors
    house = _house("20240001")
    assert (house.room, house.floor, house.building_area, house.heated_area) == (
        "101",
        3,
        Decimal("89.50"),
        Decimal("0.30"),
    )
    assert house.owner_phone == "13911112222"


def test_a_cell_excel_turned_into_a_date_is_an_error():
    line = row("GX0001", room=dt.date(2026, 1, 2))  # "1-2" typed into a General cell
    # when
    report = houses_import(file_name="x.xlsx", data=xlsx_bytes([line]), imported_by=None)
    # then
    assert [(e.row, e.column) for e in report.errors] == [(2, "房号")]
    assert "日期" in report.errors[0].message
    assert House.objects.count() == 0


def test_row_numbers_are_the_ones_excel_shows_past_title_and_blank_rows():
    rows = [HEADER, row("GX0001"), [None] * 15, row("GX0002", room="102", phone="12345")]
    data = xlsx_bytes(rows, header=["光辉小区房屋表"])
    # when
    report = houses_import(file_name="x.xlsx", data=data, imported_by=None)
    # then
    assert [(e.row, e.column) for e in report.errors] == [(5, "户主电话")]
    assert House.objects.count() == 0


def test_blank_choices_keep_an_existing_value_and_missing_columns_are_left_alone():
    houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None)
    short_header = HEADER[:9] + ["用途", "用户类型", "供热状态"]
    line = row("GX0002", building="2号楼", unit="3单元", room="502", floor="6")[:9]
    line += ["", "", ""]
    # when
    report = houses_import(
        file_name="x.csv", data=csv_bytes([line], header=short_header), imported_by=None
    )
    # then
    assert report.updated == 1
    house = _house("GX0002")
    assert house.floor == 6
    assert (house.usage_type, house.user_type, house.heating_status) == (
        "non_residential",
        "low_income",
        "stopped",
    )
    assert (house.owner_name, house.owner_phone) == ("李强", "")


def test_formula_escapes_from_spreadsheets_are_undone():
    line = row('="0012"', room="'-1", owner="'=张三")
    # when
    report = houses_import(file_name="x.csv", data=csv_bytes([line]), imported_by=None)
    # then
    assert report.committed, report.errors
    house = House.objects.get()
    assert (house.account_no, house.room, house.owner_name) == ("0012", "-1", "=张三")


GARBAGE = bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("file_name", "data", "code"),
    [
        ("houses.txt", csv_bytes(TWO_HOUSES), "import_file_type"),
        ("houses.xls", xlsx_bytes(TWO_HOUSES), "import_file_type"),
        ("houses", csv_bytes(TWO_HOUSES), "import_file_type"),
        ("houses.xlsx", GARBAGE, "import_file_unreadable"),
        ("houses.xlsx", b"PK\x03\x04" + GARBAGE, "import_file_unreadable"),
        ("houses.xlsx", csv_bytes(TWO_HOUSES), "import_file_unreadable"),
        ("houses.csv", GARBAGE, "import_file_unreadable"),
        ("houses.csv", xlsx_bytes(TWO_HOUSES), "import_file_unreadable"),
        ("houses.csv", b"", "import_file_empty"),
        ("houses.xlsx", b"", "import_file_empty"),
        ("houses.csv", b"\xef\xbb\xbf\r\n,,,\r\n", "import_file_empty"),
        ("houses.csv", csv_bytes([]), "import_file_empty"),
        ("houses.xlsx", xlsx_bytes([]), "import_file_empty"),
        ("houses.csv", csv_bytes(TWO_HOUSES, header=["a", "b", "c"]), "import_missing_headers"),
        (
            "houses.xlsx",
            xlsx_bytes([r[:8] for r in TWO_HOUSES], header=HEADER[:8]),
            "import_missing_headers",
        ),
        (
            "houses.csv",
            csv_bytes([[*r, "x"] for r in TWO_HOUSES], header=[*HEADER, "户号"]),
            "import_duplicate_headers",
        ),
        ("houses.csv", b"x" * (20 * 1024 * 1024 + 1), "import_file_too_large"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_with_a_clear_error(house_a, file_name, data, code):
    before = _counts()
    # when
    with pytest.raises(ValidationFailed) as refused:
        houses_import(file_name=file_name, data=data, imported_by=None)
    # then
    assert refused.value.code == code
    assert refused.value.status == 422
    assert refused.value.fields["file"] == [refused.value.message]
    assert _counts() == before


def test_missing_headers_are_named():
    data = xlsx_bytes([r[:7] for r in TWO_HOUSES], header=HEADER[:7])
    with pytest.raises(ValidationFailed) as refused:
        houses_import(file_name="x.xlsx", data=data, imported_by=None)
    assert refused.value.message.startswith("缺少必需的列：建筑面积、供热面积。")


def test_more_than_50000_rows_are_refused_before_any_row_is_checked():
    lines = [",".join(HEADER)]
    lines += [f"GX01,光辉小区,1号楼,1单元,{n},,H{n},1,1,,,,,," for n in range(50_001)]
    data = "\n".join(lines).encode()
    # when
    with pytest.raises(ValidationFailed) as refused:
        houses_import(file_name="x.csv", data=data, imported_by=None)
    # then
    assert refused.value.code == "import_too_many_rows"
    assert "50000" in refused.value.message
    assert _counts() == (0, 0, 0, 0, 0)


def test_the_row_limit_counts_data_rows_only(monkeypatch):
    monkeypatch.setattr(importing, "MAX_HOUSE_ROWS", 2)
    three = [*TWO_HOUSES, row("GX0003", room="103")]
    assert houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None).ok
    with pytest.raises(ValidationFailed):
        houses_import(file_name="x.csv", data=csv_bytes(three), imported_by=None)
    assert House.objects.count() == 2


def test_an_account_number_created_meanwhile_is_a_conflict_and_nothing_is_written(monkeypatch):
    make_house(account_no="GX0002")
    before = _counts()
    real_load = imports._load_existing

    def load_as_if_gx0002_was_not_there_yet(rows, *, lock):
        existing, houses = real_load(rows, lock=lock)
        existing.houses.pop("GX0002")
        return existing, houses

    monkeypatch.setattr(imports, "_load_existing", load_as_if_gx0002_was_not_there_yet)
    # when
    with pytest.raises(Conflict) as refused:
        houses_import(file_name="x.csv", data=csv_bytes(TWO_HOUSES), imported_by=None)
    # then
    assert refused.value.code == "import_conflict"
    assert _counts() == before


def _many_rows(count: int) -> list[list[str]]:
    return [
        row(
            f"BULK{n:05d}",
            community=(f"C{n % 3}", f"小区{n % 3}"),
            building=f"{n % 10}号楼",
            unit=f"{n % 4}单元",
            room=str(n),
            phone=f"139{n:08d}",
            owner=f"住户{n}",
        )
        for n in range(count)
    ]


def test_two_thousand_rows_import_with_a_bounded_number_of_queries(
    django_assert_max_num_queries,
):
    data = xlsx_bytes(_many_rows(2000))
    # when
    with django_assert_max_num_queries(60):
        report = houses_import(file_name="big.xlsx", data=data, imported_by=None)
    # then
    assert report.created == 2000, report.errors[:3]
    assert House.objects.count() == 2000
    assert Unit.objects.count() == len({(n % 3, n % 10, n % 4) for n in range(2000)})
    # and a re-import of the whole file finds nothing to change, also in a few queries
    with django_assert_max_num_queries(12):
        again = houses_import(file_name="big.xlsx", data=data, imported_by=None)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2000)


def test_the_command_imports_a_file_and_prints_the_report(tmp_path, capsys):
    path = tmp_path / "houses.xlsx"
    path.write_bytes(xlsx_bytes(TWO_HOUSES))
    # when
    call_command("import_houses", str(path), "--dry-run")
    dry = capsys.readouterr().out
    assert House.objects.count() == 0
    call_command("import_houses", str(path))
    out = capsys.readouterr().out
    # then
    assert "将新增 2 户" in dry
    assert "试运行" in dry
    assert "已新增 2 户" in out
    _assert_two_houses_imported()


def test_the_command_exits_1_and_lists_the_errors_of_an_invalid_file(tmp_path, capsys):
    path = tmp_path / "houses.csv"
    path.write_bytes(csv_bytes([row("GX0001", phone="123"), row("", room="102")]))
    # when
    with pytest.raises(CommandError) as failed:
        call_command("import_houses", str(path))
    # then
    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert "第2行【户主电话】" in out
    assert "第3行【户号】必填。" in out
    assert _counts() == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("name", ["missing.csv", "houses.txt"])
def test_the_command_exits_1_for_a_file_it_cannot_use(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".txt"):
        path.write_bytes(b"hello")
    with pytest.raises(CommandError) as failed:
        call_command("import_houses", str(path))
    assert failed.value.returncode == 1
    assert _counts() == (0, 0, 0, 0, 0)


def test_the_command_records_the_named_staff_member_in_the_audit_log(tmp_path, admin_user):
    path = tmp_path / "houses.csv"
    path.write_bytes(csv_bytes(TWO_HOUSES))
    # when
    with pytest.raises(CommandError) as unknown:
        call_command("import_houses", str(path), "--by", "nobody")
    call_command("import_houses", str(path), "--by", admin_user.username)
    # then
    assert unknown.value.returncode == 1
    assert AuditEntry.objects.get(action="estates.houses_import").actor == admin_user
    assert House.objects.count() == 2
