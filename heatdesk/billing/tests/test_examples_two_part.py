"""Worked examples of two-part tariffs (reference §3.2): the basic part at 30–50 % of the area
price or its own price, metered heat per kWh or GJ, and the settlement after the season
(多退少补, 多退少不补 with a cap). Amounts are worked out by hand beside each case."""

import datetime as dt
from decimal import Decimal as D

import pytest

from heatdesk.billing.calculation import (
    ChargeableArea,
    SeasonDates,
    TariffTerms,
    metered_settlement,
    season_fee_lines,
    two_part_fee,
)

# 2026-11-15 … 2027-03-15 inclusive: 16 (Nov) + 31 + 31 + 28 + 15 = 121 days.
SEASON = SeasonDates(start=dt.date(2026, 11, 15), end=dt.date(2027, 3, 15))


def area(value: str) -> ChargeableArea:
    return ChargeableArea(value=D(value), label="建筑面积")


def amounts(lines) -> list[tuple[str, int]]:
    return [(line.kind, line.amount_fen) for line in lines]


# --- Two-part tariff (基本热价 + 计量热价) and settlement ------------------------------------


@pytest.mark.parametrize(
    ("terms", "sqm", "metered", "expected", "texts"),
    [
        # Beijing metering: basic = 50% of 24 元/㎡, metered 0.16 元/kWh.
        # Basic: 89.50 × 24.00 × 50% = 1,074.00 元 = 107,400 分.
        # Metered: 8,000 kWh × 0.16 = 1,280.00 元 = 128,000 分.
        (
            TariffTerms(
                pricing="two_part",
                area_price=D("24.00"),
                basic_ratio=D("0.50"),
                metered_price=D("0.16"),
                metered_unit="kWh",
            ),
            "89.50",
            "8000",
            [("basic_fee", 107400), ("metered_fee", 128000)],
            ["基本热费：建筑面积 89.50㎡ × 24.00元/㎡ × 50%", "计量热费：8,000kWh × 0.16元/kWh"],
        ),
        # Beijing gas boiler: basic 18 元/㎡ as its own price, metered 44.45 元/GJ.
        # Basic: 89.50 × 18.00 = 1,611.00 元 = 161,100 分.
        # Metered: 28.8 GJ × 44.45 = 1,280.16 元 = 128,016 分.
        (
            TariffTerms(
                pricing="two_part",
                area_price=D("30.00"),
                basic_price=D("18.00"),
                metered_price=D("44.45"),
                metered_unit="GJ",
            ),
            "89.50",
            "28.8",
            [("basic_fee", 161100), ("metered_fee", 128016)],
            ["基本热费：建筑面积 89.50㎡ × 18.00元/㎡", "计量热费：28.8GJ × 44.45元/GJ"],
        ),
        # Xuchang: basic = 30% of the area amount, metered 0.158 元/kWh.
        # Basic: 95.37 × 21.60 × 30% = 617.9976 元 = 61,799.76 分 → 61,800 分.
        # Metered: 6,543.2 kWh × 0.158 = 1,033.8256 元 = 103,382.56 分 → 103,383 分.
        (
            TariffTerms(
                pricing="two_part",
                area_price=D("21.60"),
                basic_ratio=D("0.30"),
                metered_price=D("0.158"),
                metered_unit="kWh",
            ),
            "95.37",
            "6543.2",
            [("basic_fee", 61800), ("metered_fee", 103383)],
            ["基本热费：建筑面积 95.37㎡ × 21.60元/㎡ × 30%", "计量热费：6,543.2kWh × 0.158元/kWh"],
        ),
        # A 40% basic part: 100.00 × 27.00 × 40% = 1,080.00 元 = 108,000 分;
        # 35.5 GJ × 40.00 = 1,420.00 元 = 142,000 分.
        (
            TariffTerms(
                pricing="two_part",
                area_price=D("27.00"),
                basic_ratio=D("0.40"),
                metered_price=D("40.00"),
                metered_unit="GJ",
            ),
            "100.00",
            "35.5",
            [("basic_fee", 108000), ("metered_fee", 142000)],
            ["基本热费：建筑面积 100.00㎡ × 27.00元/㎡ × 40%", "计量热费：35.5GJ × 40.00元/GJ"],
        ),
    ],
    ids=["beijing-50pct", "beijing-gas-18", "xuchang-30pct", "basic-40pct"],
)
def test_two_part_fee(terms, sqm, metered, expected, texts):
    lines = two_part_fee(
        area=area(sqm),
        terms=terms,
        metered_quantity=D(metered),
        first=SEASON.start,
        last=SEASON.end,
        season_days=SEASON.days,
    )
    assert amounts(lines) == expected
    assert [line.explanation for line in lines] == texts


def test_two_part_tariff_bills_the_area_fee_in_advance():
    # Xuchang: prepay the full area fee, 95.37 × 21.60 = 2,059.992 元 → 205,999 分.
    terms = TariffTerms(
        pricing="two_part",
        area_price=D("21.60"),
        basic_ratio=D("0.30"),
        metered_price=D("0.158"),
        metered_unit="kWh",
    )
    (line,) = season_fee_lines(season=SEASON, terms=terms, area=area("95.37"))
    assert (line.kind, line.amount_fen) == ("area_fee", 205999)
    assert line.explanation == "按面积预收：建筑面积 95.37㎡ × 21.60元/㎡"


BEIJING_TWO_PART = {
    "pricing": "two_part",
    "area_price": D("24.00"),
    "basic_ratio": D("0.50"),
    "metered_price": D("0.16"),
    "metered_unit": "kWh",
}


@pytest.mark.parametrize(
    ("mode", "cap", "advance", "basic", "metered_kwh", "expected_lines", "net"),
    [
        # 多退少补 (Xuchang): advance 205,999; basic 61,800 + metered 103,383 = 165,183.
        # Net 165,183 − 205,999 = −40,816 分: 408.16 元 back to the house.
        ("refund_and_topup", None, 205999, 61800, None, [-205999], -40816),
        # 多退少补, used more: advance 214,800; basic 107,400 + 10,000 kWh × 0.16 = 160,000.
        # Net 267,400 − 214,800 = +52,600 分 topped up.
        ("refund_and_topup", None, 214800, 107400, "10000", [-214800], 52600),
        # 多退少不补 (Beijing retrofits, cap 100%): 267,400 > 214,800, so the excess 52,600 is
        # not charged: net 0.
        ("refund_only", D("1.00"), 214800, 107400, "10000", [-214800, -52600], 0),
        # 多退少不补 under the cap: 107,400 + 4,000 kWh × 0.16 = 64,000 → 171,400; refund 43,400.
        ("refund_only", D("1.00"), 214800, 107400, "4000", [-214800], -43400),
        # Tangshan pilot, cap 115%: cap = 214,800 × 1.15 = 247,020; 267,400 − 247,020 = 20,380
        # not charged; net 247,020 − 214,800 = +32,220 分.
        ("refund_only", D("1.15"), 214800, 107400, "10000", [-214800, -20380], 32220),
    ],
    ids=["xuchang-refund", "topup", "beijing-capped", "under-cap", "tangshan-115"],
)
def test_metered_settlement(mode, cap, advance, basic, metered_kwh, expected_lines, net):
    if metered_kwh is None:  # the Xuchang charges from test_two_part_fee
        terms = TariffTerms(
            pricing="two_part",
            area_price=D("21.60"),
            basic_ratio=D("0.30"),
            metered_price=D("0.158"),
            metered_unit="kWh",
            settlement_mode=mode,
            settlement_cap_ratio=cap,
        )
        charges = two_part_fee(
            area=area("95.37"),
            terms=terms,
            metered_quantity=D("6543.2"),
            first=SEASON.start,
            last=SEASON.end,
            season_days=SEASON.days,
        )
    else:
        terms = TariffTerms(**BEIJING_TWO_PART, settlement_mode=mode, settlement_cap_ratio=cap)
        charges = two_part_fee(
            area=area("89.50"),
            terms=terms,
            metered_quantity=D(metered_kwh),
            first=SEASON.start,
            last=SEASON.end,
            season_days=SEASON.days,
        )
    assert charges[0].amount_fen == basic
    lines = metered_settlement(advance_fen=advance, charges=charges, terms=terms)
    assert lines[:2] == charges
    assert [line.amount_fen for line in lines[2:]] == expected_lines
    assert all(line.kind == "adjustment" and line.reason for line in lines[2:])
    assert sum(line.amount_fen for line in lines) == net
    assert (
        lines[2].explanation
        == f"计量结算：冲减按面积预收热费 {advance // 100:,}.{advance % 100:02d}元"
    )
