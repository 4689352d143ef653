"""Worked examples modeled on published city rules (see shared/reference/heating-billing-anchors.md
§3). Every expected amount is worked out by hand in the comment beside it: yuan first, then fen,
then the one half-up rounding."""

import datetime as dt
from decimal import Decimal as D

import pytest

from heatdesk.billing.calculation import (
    CalculationError,
    ChargeableArea,
    EarlyDiscountPolicy,
    LateFeePolicy,
    Payment,
    SeasonDates,
    TariffTerms,
    early_discount,
    late_fee,
    metered_settlement,
    season_fee_lines,
    two_part_fee,
)

# 2026-11-15 … 2027-03-15 inclusive: 16 (Nov) + 31 + 31 + 28 + 15 = 121 days.
SEASON = SeasonDates(start=dt.date(2026, 11, 15), end=dt.date(2027, 3, 15))
# Xuchang: 120 days (0.18 元/㎡/天 × 120 = 21.60 元/㎡): 2026-11-15 … 2027-03-14.
XUCHANG = SeasonDates(start=dt.date(2026, 11, 15), end=dt.date(2027, 3, 14))


def area(value: str, label: str = "建筑面积") -> ChargeableArea:
    return ChargeableArea(value=D(value), label=label)


def area_terms(price: str, **extra) -> TariffTerms:
    return TariffTerms(pricing="area", area_price=D(price), **extra)


def amounts(lines) -> list[tuple[str, int]]:
    return [(line.kind, line.amount_fen) for line in lines]


def test_season_lengths_count_both_ends():
    assert SEASON.days == 121
    assert XUCHANG.days == 120


# --- Area pricing (元/㎡·采暖季) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "sqm", "label", "expected_fen", "expected_text"),
    [
        # Beijing residential, municipal heating group: 24 元/㎡.
        # 89.50 × 24.00 = 2,148.00 元 = 214,800 分.
        ("24.00", "89.50", "建筑面积", 214800, "建筑面积 89.50㎡ × 24.00元/㎡"),
        # Beijing residential, gas/oil/electric boiler: 30 元/㎡.
        # 89.50 × 30.00 = 2,685.00 元 = 268,500 分.
        ("30.00", "89.50", "建筑面积", 268500, "建筑面积 89.50㎡ × 30.00元/㎡"),
        # Changchun 2022 residential 27 元/㎡: 102.36 × 27 = 2,763.72 元 = 276,372 分.
        ("27.00", "102.36", "建筑面积", 276372, "建筑面积 102.36㎡ × 27.00元/㎡"),
        # Changchun non-residential 31 元/㎡: 120.35 × 31 = 3,730.85 元 = 373,085 分.
        ("31.00", "120.35", "建筑面积", 373085, "建筑面积 120.35㎡ × 31.00元/㎡"),
        # Xuchang 0.18 元/㎡/天 × 120 天 = 21.60 元/㎡: 95.37 × 21.60 = 2,059.992 元
        # = 205,999.2 分 → 205,999 分.
        ("21.60", "95.37", "建筑面积", 205999, "建筑面积 95.37㎡ × 21.60元/㎡"),
        # Half a fen rounds up: 88.25 × 24.10 = 2,126.825 元 = 212,682.5 分 → 212,683
        # (banker's rounding would say 212,682).
        ("24.10", "88.25", "建筑面积", 212683, "建筑面积 88.25㎡ × 24.10元/㎡"),
        # Charged on the heated area: 85.00 × 25.00 = 2,125.00 元 = 212,500 分.
        ("25.00", "85.00", "供热面积", 212500, "供热面积 85.00㎡ × 25.00元/㎡"),
    ],
    ids=[
        "beijing-24",
        "beijing-30",
        "changchun-27",
        "changchun-31",
        "xuchang",
        "half-up",
        "heated",
    ],
)
def test_area_fee_for_a_whole_season(price, sqm, label, expected_fen, expected_text):
    lines = season_fee_lines(season=SEASON, terms=area_terms(price), area=area(sqm, label))
    assert amounts(lines) == [("area_fee", expected_fen)]
    assert lines[0].explanation == expected_text
    assert (lines[0].quantity, lines[0].unit_price, lines[0].unit) == (D(sqm), D(price), "㎡")
    assert (lines[0].period_from, lines[0].period_to) == (SEASON.start, SEASON.end)


# --- Partial seasons, per day -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("season", "price", "sqm", "supply_from", "supply_until", "prorate", "expected"),
    [
        # New connection on 2027-01-15: 17 + 28 + 15 = 60 of 121 days.
        # 89.50 × 25.00 = 2,237.50 元; × 60/121 = 1,109.5041… 元 = 110,950.41 分 → 110,950.
        (SEASON, "25.00", "89.50", dt.date(2027, 1, 15), None, True, 110950),
        # Ownership transferred after 2026-12-31: 16 + 31 = 47 of 121 days.
        # 2,237.50 × 47/121 = 869.1115… 元 = 86,911.16 分 → 86,911.
        (SEASON, "25.00", "89.50", None, dt.date(2026, 12, 31), True, 86911),
        # Proration switched off: the whole season, 2,237.50 元 = 223,750 分.
        (SEASON, "25.00", "89.50", dt.date(2027, 1, 15), None, False, 223750),
        # Xuchang, 55 of 120 days (2027-01-19 … 03-14: 13 + 28 + 14): 69.45 × 21.60 =
        # 1,500.12 元; × 55/120 = 687.555 元 = 68,755.5 分 → 68,756. Exactly half a fen: a
        # decimal day ratio (0.458333…) would have rounded this down to 68,755.
        (XUCHANG, "21.60", "69.45", dt.date(2027, 1, 19), None, True, 68756),
    ],
    ids=["connected-mid-season", "left-mid-season", "proration-off", "exact-half-fen"],
)
def test_partial_season_is_charged_per_day(
    season, price, sqm, supply_from, supply_until, prorate, expected
):
    lines = season_fee_lines(
        season=season,
        terms=area_terms(price, prorate_by_day=prorate),
        area=area(sqm),
        supply_from=supply_from,
        supply_until=supply_until,
    )
    assert amounts(lines) == [("area_fee", expected)]


def test_partial_season_line_explains_its_days():
    (line,) = season_fee_lines(
        season=SEASON,
        terms=area_terms("25.00"),
        area=area("89.50"),
        supply_from=dt.date(2027, 1, 15),
    )
    assert line.explanation == (
        "建筑面积 89.50㎡ × 25.00元/㎡ × 60/121天（2027-01-15至2027-03-15）"
    )
    assert line.ratio == D("0.4958677686")  # 60/121, shown; the amount uses the exact fraction
    assert (line.period_from, line.period_to) == (dt.date(2027, 1, 15), dt.date(2027, 3, 15))


@pytest.mark.parametrize(
    ("supply_from", "supply_until", "stopped_from"),
    [
        (dt.date(2026, 11, 14), None, None),  # before the season
        (None, dt.date(2027, 3, 16), None),  # after it
        (dt.date(2027, 2, 1), dt.date(2027, 1, 1), None),  # backwards
        (dt.date(2027, 1, 15), None, dt.date(2027, 1, 1)),  # stopped before supply began
    ],
)
def test_dates_outside_the_season_are_refused(supply_from, supply_until, stopped_from):
    with pytest.raises(CalculationError):
        season_fee_lines(
            season=SEASON,
            terms=area_terms("25.00"),
            area=area("89.50"),
            supply_from=supply_from,
            supply_until=supply_until,
            stopped_from=stopped_from,
        )


# --- Stop heating (报停): 30% basic fee -------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "stopped_from", "expected"),
    [
        # Whole season stopped, 30% of 25 元/㎡: 89.50 × 25.00 × 30% = 671.25 元 = 67,125 分.
        ("25.00", SEASON.start, [("stop_basic_fee", 67125)]),
        # Beijing 24 元/㎡: 89.50 × 24.00 × 30% = 644.40 元 = 64,440 分.
        ("24.00", SEASON.start, [("stop_basic_fee", 64440)]),
        # Stopped from 2027-01-01: heated 2026-11-15 … 12-31 = 47 days, stopped 74 days.
        # Heated: 2,237.50 × 47/121 = 869.1115… 元 → 86,911 分.
        # Stopped: 2,237.50 × 30% × 74/121 = 671.25 × 74/121 = 410.5165… 元 = 41,051.65 分
        # → 41,052 分. Together 127,963 分.
        ("25.00", dt.date(2027, 1, 1), [("area_fee", 86911), ("stop_basic_fee", 41052)]),
    ],
    ids=["whole-season-25", "whole-season-beijing-24", "from-new-year"],
)
def test_stop_heating_pays_the_basic_ratio(price, stopped_from, expected):
    lines = season_fee_lines(
        season=SEASON, terms=area_terms(price), area=area("89.50"), stopped_from=stopped_from
    )
    assert amounts(lines) == expected
    assert lines[-1].explanation.startswith("报停基本热费：建筑面积 89.50㎡ × ")
    assert "× 30%" in lines[-1].explanation


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


# --- Non-residential surcharge and low-income relief -------------------------------------------


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        # Changchun non-residential 31 元/㎡, floor height 3.6 m: +5% per 0.3 m above 3 m = +10%.
        # 373,085 × 10% = 37,308.5 分 → 37,309 分.
        (
            area_terms("31.00", surcharge_ratio=D("0.10")),
            [("area_fee", 373085), ("surcharge", 37309)],
        ),
        # The same rule at its +50% cap: 373,085 × 50% = 186,542.5 → 186,543 分.
        (
            area_terms("31.00", surcharge_ratio=D("0.50")),
            [("area_fee", 373085), ("surcharge", 186543)],
        ),
    ],
    ids=["changchun-floor-10pct", "changchun-cap-50pct"],
)
def test_non_residential_surcharge(terms, expected):
    lines = season_fee_lines(season=SEASON, terms=terms, area=area("120.35"))
    assert amounts(lines) == expected
    assert lines[1].explanation.startswith("非居民加价：热费 3,730.85元 × ")


@pytest.mark.parametrize(
    ("price", "sqm", "ratio", "expected"),
    [
        # Taiyuan: the city covers 85% of a low-income family's bill. 89.50 × 24 = 214,800 分;
        # relief 214,800 × 85% = 182,580 分; the family pays 32,220 分.
        ("24.00", "89.50", "0.85", [("area_fee", 214800), ("relief_subsidy", -182580)]),
        # 特困 fully relieved: 205,999 × 100% → −205,999; the family pays nothing.
        ("21.60", "95.37", "1.00", [("area_fee", 205999), ("relief_subsidy", -205999)]),
        # Half relief of 212,683 = 106,341.5 → −106,342 (half-up away from zero).
        ("24.10", "88.25", "0.50", [("area_fee", 212683), ("relief_subsidy", -106342)]),
    ],
    ids=["taiyuan-85pct", "full-relief", "half-relief-rounding"],
)
def test_low_income_relief_names_its_funding_source(price, sqm, ratio, expected):
    terms = area_terms(price, relief_ratio=D(ratio), relief_funding_source="市民政局低保供热补贴")
    lines = season_fee_lines(season=SEASON, terms=terms, area=area(sqm))
    assert amounts(lines) == expected
    assert lines[1].explanation.endswith("，由市民政局低保供热补贴承担")
    assert lines[1].explanation.startswith("低保减免：热费 ")


def test_relief_applies_to_the_stop_fee_too():
    # Stopped all season: 89.50 × 24 × 30% = 64,440 分; 85% relief = 54,774 分.
    terms = area_terms("24.00", relief_ratio=D("0.85"), relief_funding_source="市民政局")
    lines = season_fee_lines(
        season=SEASON, terms=terms, area=area("89.50"), stopped_from=SEASON.start
    )
    assert amounts(lines) == [("stop_basic_fee", 64440), ("relief_subsidy", -54774)]


# --- Early-payment discount ----------------------------------------------------------------------

EARLY = EarlyDiscountPolicy(rate=D("0.03"), last_day=dt.date(2026, 10, 31))


@pytest.mark.parametrize(
    ("principal", "paid_on", "expected"),
    [
        # 3% until 31 Oct: 214,800 × 3% = 6,444 分 off.
        (214800, dt.date(2026, 10, 31), -6444),
        # 3% of 205,999 = 6,179.97 → 6,180 分 off.
        (205999, dt.date(2026, 9, 1), -6180),
        # One day late: no discount.
        (214800, dt.date(2026, 11, 1), None),
    ],
)
def test_early_payment_discount(principal, paid_on, expected):
    line = early_discount(principal_fen=principal, policy=EARLY, paid_on=paid_on)
    assert (line.amount_fen if line else None) == expected
    if line:
        assert line.kind == "early_discount"
        assert line.explanation.endswith("× 3%（2026-10-31前缴清）")


def test_no_discount_policy_means_no_discount():
    assert early_discount(principal_fen=214800, policy=None, paid_on=dt.date(2026, 9, 1)) is None


# --- Late fee ------------------------------------------------------------------------------------

# Tianjin: due 31 Dec, then ≤ 2‰ of the fee per day; stops when heat is cut off. Cap 30% here.
TIANJIN = LateFeePolicy(
    kind="daily_rate", rate=D("0.002"), start_date=dt.date(2027, 1, 1), cap_ratio=D("0.30")
)
# Changchun: a one-off 5% after the 20 Oct deadline.
CHANGCHUN = LateFeePolicy(kind="one_off", rate=D("0.05"), start_date=dt.date(2026, 10, 21))


@pytest.mark.parametrize(
    ("policy", "as_of", "payments", "cut_off", "expected"),
    [
        # The day before the start date: nothing.
        (TIANJIN, dt.date(2026, 12, 31), (), None, None),
        # Day one: 214,800 × 2‰ = 429.6 → 430 分.
        (TIANJIN, dt.date(2027, 1, 1), (), None, 430),
        # 10 days: 214,800 × 2‰ × 10 = 4,296 分.
        (TIANJIN, dt.date(2027, 1, 10), (), None, 4296),
        # A year later: 214,800 × 2‰ × 365 = 156,804 > cap 214,800 × 30% = 64,440 → 64,440.
        (TIANJIN, dt.date(2027, 12, 31), (), None, 64440),
        # Heat cut off on 6 Jan: only 1–5 Jan accrue, 214,800 × 2‰ × 5 = 2,148 分, for good.
        (TIANJIN, dt.date(2027, 2, 1), (), dt.date(2027, 1, 6), 2148),
        # Cut off later than as_of: still accruing, 10 days = 4,296.
        (TIANJIN, dt.date(2027, 1, 10), (), dt.date(2027, 1, 20), 4296),
        # 1,000 元 paid on 4 Jan counts from 5 Jan: 4 days × 214,800 + 6 days × 114,800
        # = 1,548,000 分·天; × 2‰ = 3,096 分.
        (TIANJIN, dt.date(2027, 1, 10), (Payment(dt.date(2027, 1, 4), 100000),), None, 3096),
        # Paid in full on 3 Jan: 3 days × 214,800 × 2‰ = 1,288.8 → 1,289 分, then no more.
        (TIANJIN, dt.date(2027, 3, 1), (Payment(dt.date(2027, 1, 3), 214800),), None, 1289),
        # Paid in full before the start: nothing.
        (TIANJIN, dt.date(2027, 3, 1), (Payment(dt.date(2026, 12, 31), 214800),), None, None),
    ],
    ids=[
        "before-start",
        "day-one",
        "ten-days",
        "capped",
        "heat-cut-off",
        "cut-off-later",
        "partial-payment",
        "paid-on-day-three",
        "paid-in-time",
    ],
)
def test_daily_late_fee(policy, as_of, payments, cut_off, expected):
    line = late_fee(
        principal_fen=214800, policy=policy, as_of=as_of, payments=payments, heat_cut_off_on=cut_off
    )
    assert (line.amount_fen if line else None) == expected


def test_daily_late_fee_explains_days_cut_off_and_cap():
    ten = late_fee(principal_fen=214800, policy=TIANJIN, as_of=dt.date(2027, 1, 10))
    assert ten.explanation == (
        "滞纳金：未缴本金 2,148.00元 × 2‰/天 × 10天（2027-01-01至2027-01-10）"
    )
    assert (ten.quantity, ten.unit, ten.ratio) == (D(10), "天", D("0.002"))
    cut = late_fee(
        principal_fen=214800,
        policy=TIANJIN,
        as_of=dt.date(2027, 2, 1),
        heat_cut_off_on=dt.date(2027, 1, 6),
    )
    assert cut.explanation.endswith("（2027-01-01至2027-01-05）；2027-01-06起停止供热，不再计收")
    capped = late_fee(principal_fen=214800, policy=TIANJIN, as_of=dt.date(2027, 12, 31))
    assert capped.explanation.endswith("；已达上限：本金 2,148.00元 × 30% = 644.40元")


def test_late_fee_keeps_accruing_after_cut_off_when_so_configured():
    # Policy says accrual does not stop: 1 Jan – 1 Feb = 32 days × 214,800 × 2‰ = 13,747.2 → 13,747.
    policy = LateFeePolicy(
        kind="daily_rate",
        rate=D("0.002"),
        start_date=dt.date(2027, 1, 1),
        cap_ratio=D("0.30"),
        stops_at_cutoff=False,
    )
    line = late_fee(
        principal_fen=214800,
        policy=policy,
        as_of=dt.date(2027, 2, 1),
        heat_cut_off_on=dt.date(2027, 1, 6),
    )
    assert line.amount_fen == 13747


@pytest.mark.parametrize(
    ("policy", "as_of", "payments", "expected"),
    [
        # The deadline day itself: nothing yet.
        (CHANGCHUN, dt.date(2026, 10, 20), (), None),
        # 373,085 × 5% = 18,654.25 → 18,654 分, once, however late.
        (CHANGCHUN, dt.date(2026, 10, 21), (), 18654),
        (CHANGCHUN, dt.date(2027, 6, 30), (), 18654),
        # 2,000 元 paid on the deadline day: (373,085 − 200,000) × 5% = 8,654.25 → 8,654 分.
        (CHANGCHUN, dt.date(2026, 11, 1), (Payment(dt.date(2026, 10, 20), 200000),), 8654),
        # Paying on the first late day does not avoid it: 18,654.
        (CHANGCHUN, dt.date(2026, 11, 1), (Payment(dt.date(2026, 10, 21), 373085),), 18654),
        # Capped at 3%: 373,085 × 3% = 11,192.55 → the cap is rounded down, 11,192 分.
        (
            LateFeePolicy(
                kind="one_off",
                rate=D("0.05"),
                start_date=dt.date(2026, 10, 21),
                cap_ratio=D("0.03"),
            ),
            dt.date(2026, 10, 21),
            (),
            11192,
        ),
    ],
    ids=["deadline-day", "first-late-day", "months-later", "part-paid", "paid-late", "capped"],
)
def test_one_off_late_fee(policy, as_of, payments, expected):
    line = late_fee(principal_fen=373085, policy=policy, as_of=as_of, payments=payments)
    assert (line.amount_fen if line else None) == expected
    if line:
        assert line.explanation.startswith("滞纳金：2026-10-21起逾期未缴本金 ")


def test_no_late_fee_policy_means_no_late_fee():
    policy = LateFeePolicy(kind="none")
    assert late_fee(principal_fen=214800, policy=policy, as_of=dt.date(2030, 1, 1)) is None
