"""Worked examples of season charges modeled on published city rules (reference §3.1, §3.3,
§3.5, §3.7, §3.8): area prices, per-day partial seasons, 报停, the non-residential surcharge and
low-income relief. Every expected amount is worked out by hand beside it: yuan first, then fen,
then the one half-up rounding."""

import datetime as dt
from decimal import Decimal as D

import pytest

from heatdesk.billing.calculation import (
    CalculationError,
    ChargeableArea,
    SeasonDates,
    TariffTerms,
    season_fee_lines,
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
