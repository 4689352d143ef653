"""Meter readings: an import writes every row or none, with each error by row; two-part bills are
settled once on them after the season, 多退 becoming account credit and 少补 owed."""

import datetime as dt
import io
from decimal import Decimal as D

import openpyxl
import pytest
import time_machine

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillLine, MeterReading
from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.services import ledger
from heatdesk.billing.services.heating_changes import heating_change_apply, heating_change_approve
from heatdesk.billing.services.meters import (
    bill_settle_metered,
    meter_readings_import,
    season_settle_metered,
)
from heatdesk.billing.tests.factories import (
    account_state,
    assert_account_consistent,
    lines_of,
    make_tariff,
)
from heatdesk.core.clock import SHANGHAI
from heatdesk.core.errors import Conflict, ValidationFailed
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

AFTER_SEASON = dt.datetime(2027, 4, 1, 9, tzinfo=SHANGHAI)
ADVANCE = 223750  # 89.50㎡ × 25.00, billed in advance
BASIC = 111875  # 89.50㎡ × 25.00 × 50%


def csv_file(*rows: str) -> bytes:
    return ("户号,热表编号,起始读数,结束读数,单位,抄表日期\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture
def two_part(season):
    return make_tariff(
        season,
        pricing="two_part",
        basic_ratio=D("0.50"),
        metered_price=D("44.45"),
        metered_unit="GJ",
    )


@pytest.fixture
def metered_home(db):
    return make_house(account_no="HT20000001", meter_id="RM-001")


def import_csv(season, by, *rows):
    return meter_readings_import(season=season, file_name="读数.csv", data=csv_file(*rows), by=by)


# --- Import -------------------------------------------------------------------------------------


def test_a_valid_file_is_imported_with_an_audit_row(season, metered_home, house_b, admin_user):
    result = import_csv(
        season,
        admin_user,
        "HT20000001,RM-001,100.000,130.500,GJ,2027-03-16",
        "HT10000002,,0,2000,kWh,2027/03/17",
    )
    assert result.created == 2
    first = MeterReading.objects.get(house=metered_home)
    assert (first.quantity, first.unit, first.read_on, first.meter_id, first.import_ref) == (
        D("30.500"),
        "GJ",
        dt.date(2027, 3, 16),
        "RM-001",
        result.import_ref,
    )
    assert MeterReading.objects.get(house=house_b).quantity == D("2000")
    entry = AuditEntry.objects.get(action="billing.meter_readings_import")
    assert (entry.actor, entry.after["rows"]) == (admin_user, 2)


def test_an_xlsx_file_with_a_title_row_is_imported(season, metered_home, admin_user):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["2026-2027采暖季抄表"])
    sheet.append(["户号", "起始读数", "结束读数", "单位", "抄表日期"])
    sheet.append(["HT20000001", 10, 12.25, "gj", dt.date(2027, 3, 16)])  # an Excel date cell
    buffer = io.BytesIO()
    book.save(buffer)
    meter_readings_import(
        season=season, file_name="读数.xlsx", data=buffer.getvalue(), by=admin_user
    )
    assert MeterReading.objects.get().quantity == D("2.250")


def test_a_file_with_errors_writes_nothing_and_names_every_row(
    season, metered_home, house_b, admin_user
):
    import_csv(season, admin_user, "HT10000002,,0,10,GJ,2027-03-16")
    before = list(MeterReading.objects.values_list("pk", flat=True))
    with pytest.raises(ValidationFailed) as refused:
        import_csv(
            season,
            admin_user,
            "HT20000001,RM-001,100,130,GJ,2027-03-16",  # fine
            "HT99999999,,1,2,GJ,2027-03-16",  # unknown house
            "HT20000001,,1,2,GJ,2027-03-16",  # the same house twice
            "HT10000002,,1,2,GJ,2027-03-16",  # already has a reading
            "HT20000003,,5,4,GJ,2027-03-16",  # end below start (unknown house found later)
            ",,1,2,吨,昨天",  # no house, bad unit, bad date
            "HT20000004,,1.2345,x,GJ,2027-03-16",  # too many decimals, not a number
        )
    assert refused.value.code == "import_rows_invalid"
    assert refused.value.fields == {
        "第3行 户号": ["户号不存在"],
        "第4行 户号": ["与第2行重复"],
        "第5行 户号": ["该户2026-2027采暖季已有读数"],
        "第6行 结束读数": ["结束读数不能小于起始读数"],
        "第7行 抄表日期": ["日期格式应为 2027-03-16"],
        "第7行 户号": ["请填写户号"],
        "第7行 单位": ["单位须为 GJ 或 kWh"],
        "第8行 起始读数": ["最多3位小数"],
        "第8行 结束读数": ["不是有效的数字"],
    }
    assert "9 处错误" in refused.value.message
    assert list(MeterReading.objects.values_list("pk", flat=True)) == before


def test_a_meter_id_that_is_not_the_houses_is_refused(season, metered_home, admin_user):
    with pytest.raises(ValidationFailed) as refused:
        import_csv(season, admin_user, "HT20000001,RM-999,1,2,GJ,2027-03-16")
    assert refused.value.fields == {"第2行 热表编号": ["与该户登记的热表编号 RM-001 不符"]}
    assert not MeterReading.objects.exists()


def test_a_file_without_the_needed_columns_is_refused(season, metered_home, admin_user):
    with pytest.raises(ValidationFailed) as refused:
        meter_readings_import(
            season=season, file_name="a.csv", data=b"\xe6\x88\xb7\xe5\x8f\xb7,x\nHT1,1\n", by=None
        )
    assert refused.value.code == "import_header_missing"
    assert not MeterReading.objects.exists()


# --- Settlement ---------------------------------------------------------------------------------


def settle_after_season(bill, by):
    with time_machine.travel(AFTER_SEASON, tick=False):
        return bill_settle_metered(bill=bill, by=by)


def test_settlement_charges_more_when_more_heat_was_used(season, two_part, metered_home, finance):
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    assert lines_of(bill) == [("area_fee", ADVANCE)]
    ledger.ledger_post_payment(house=metered_home, amount_fen=ADVANCE, source="wx", source_id="P1")
    import_csv(season, finance, "HT20000001,RM-001,100,130,GJ,2027-03-16")
    # when: 30 GJ × 44.45 = 1,333.50
    settle_after_season(bill, finance)
    # then: basic + metered − advance = 21,475 more to pay (多退少补)
    assert lines_of(bill) == [
        ("area_fee", ADVANCE),
        ("basic_fee", BASIC),
        ("metered_fee", 133350),
        ("adjustment", -ADVANCE),
    ]
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("partially_paid", 245225, ADVANCE)
    reading = MeterReading.objects.get()
    assert (reading.settled_bill, reading.settled_by) == (row, finance)
    assert assert_account_consistent(metered_home) == 245225 - ADVANCE


def test_settlement_refunds_into_credit_when_less_heat_was_used(
    season, two_part, metered_home, finance
):
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    ledger.ledger_post_payment(house=metered_home, amount_fen=ADVANCE, source="wx", source_id="P1")
    import_csv(season, finance, "HT20000001,RM-001,100,110,GJ,2027-03-16")
    settle_after_season(bill, finance)
    # 10 GJ: 111,875 + 44,450 = 156,325; 67,425 paid too much becomes credit
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", 156325, 156325)
    assert credit_fen(house_id=metered_home.pk) == 67425
    assert assert_account_consistent(metered_home) == -67425


def test_refund_only_tariffs_cap_the_settlement(season, metered_home, finance):
    make_tariff(
        season,
        pricing="two_part",
        basic_ratio=D("0.50"),
        metered_price=D("44.45"),
        metered_unit="GJ",
        settlement_mode="refund_only",
        settlement_cap_ratio=D("1.00"),
    )
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    import_csv(season, finance, "HT20000001,RM-001,100,130,GJ,2027-03-16")
    settle_after_season(bill, finance)
    assert lines_of(bill)[-1] == ("adjustment", -21475)  # 多退少不补: never above the advance
    assert Bill.objects.get(pk=bill.pk).total_fen == ADVANCE


def test_settlement_after_a_stop_charges_the_basic_fee_for_heated_days_only(
    season, two_part, metered_home, finance, agent, resident
):
    from heatdesk.estates.models import HouseBinding

    HouseBinding.objects.create(user=resident, house=metered_home, relation="owner")
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    with time_machine.travel(dt.datetime(2026, 10, 1, tzinfo=SHANGHAI), tick=False):
        change = heating_change_apply(
            resident=resident, house=metered_home, season=season, kind="stop"
        )
    heating_change_approve(change=change, by=agent, effective_from=dt.date(2027, 1, 15))
    import_csv(season, finance, "HT20000001,RM-001,100,120,GJ,2027-03-16")
    # when
    settle_after_season(bill, finance)
    # then: heated 15 Nov–14 Jan (61 of 121 days): basic 111,875 × 61/121 = 56,400.2 → 56,400;
    # advance = 223,750 − 110,950 taken back by the stop = 112,800
    lines = list(BillLine.objects.filter(bill=bill).order_by("id"))
    basic = lines[-3]
    assert (basic.kind, basic.amount_fen, basic.period_from, basic.period_to) == (
        "basic_fee",
        56400,
        dt.date(2026, 11, 15),
        dt.date(2027, 1, 14),
    )
    assert [(x.kind, x.amount_fen) for x in lines[-2:]] == [
        ("metered_fee", 88900),
        ("adjustment", -112800),
    ]
    assert assert_account_consistent(metered_home) == Bill.objects.get(pk=bill.pk).total_fen


def test_an_area_priced_bill_is_not_settled(season, tariff, metered_home, finance):
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    import_csv(season, finance, "HT20000001,RM-001,100,130,GJ,2027-03-16")
    before = account_state(metered_home)
    with pytest.raises(Conflict) as refused:
        settle_after_season(bill, finance)
    assert refused.value.code == "bill_not_metered"
    assert account_state(metered_home) == before
    assert MeterReading.objects.get().settled_at is None


def test_settlement_is_refused_when_it_cannot_apply_and_changes_nothing(
    season, two_part, metered_home, finance
):
    bill = services.bill_issue(house=metered_home, season=season, issued_by=finance)
    before = account_state(metered_home)
    # before the season ends
    with pytest.raises(Conflict) as refused:
        bill_settle_metered(bill=bill, by=finance)
    assert refused.value.code == "season_not_over"
    # without a reading
    with pytest.raises(Conflict) as refused:
        settle_after_season(bill, finance)
    assert refused.value.code == "reading_missing"
    assert account_state(metered_home) == before
    # twice
    import_csv(season, finance, "HT20000001,RM-001,100,130,GJ,2027-03-16")
    settle_after_season(bill, finance)
    after = account_state(metered_home)
    with pytest.raises(Conflict) as refused:
        settle_after_season(bill, finance)
    assert refused.value.code == "bill_already_settled"
    assert account_state(metered_home) == after


def test_a_season_is_settled_house_by_house(season, two_part, metered_home, finance):
    other = make_house(account_no="HT20000002")
    for house in (metered_home, other):
        services.bill_issue(house=house, season=season, issued_by=finance)
    import_csv(
        season,
        finance,
        "HT20000001,RM-001,100,130,GJ,2027-03-16",
        "HT20000002,,0,5,kWh,2027-03-16",  # the wrong unit for this tariff
    )
    with time_machine.travel(AFTER_SEASON, tick=False):
        result = season_settle_metered(season=season, by=finance)
    assert result.settled == 1
    assert list(result.refused) == ["HT20000002"]
    assert "单位" in result.refused["HT20000002"]
    assert MeterReading.objects.filter(settled_at__isnull=False).count() == 1
