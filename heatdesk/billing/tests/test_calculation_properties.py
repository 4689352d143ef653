"""Properties of the calculators that must hold for any tariff, any dates and any payments."""

import datetime as dt
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from heatdesk.billing.calculation import (
    ChargeableArea,
    LateFeePolicy,
    Payment,
    SeasonDates,
    TariffTerms,
    area_fee,
    late_fee,
    season_fee_lines,
)
from heatdesk.billing.choices import CHARGE_KINDS, CREDIT_KINDS
from heatdesk.core.money import rate_times_quantity_fen

SEASON = SeasonDates(start=dt.date(2026, 11, 15), end=dt.date(2027, 3, 15))  # 121 days
START = dt.date(2027, 1, 1)

areas = st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2)
prices = st.decimals(min_value=D("0.0001"), max_value=D("999.9999"), places=4)
ratios = st.decimals(min_value=D(0), max_value=D(1), places=4)
principals = st.integers(min_value=1, max_value=10**10)
season_days = st.integers(min_value=0, max_value=SEASON.days - 1)


def _day(offset: int) -> dt.date:
    return SEASON.start + dt.timedelta(days=offset)


@st.composite
def tariff_terms(draw) -> TariffTerms:
    relief = draw(ratios)
    return TariffTerms(
        pricing="area",
        area_price=draw(prices),
        stop_basic_ratio=draw(ratios),
        prorate_by_day=draw(st.booleans()),
        surcharge_ratio=draw(st.decimals(min_value=D(0), max_value=D("0.5"), places=4)),
        relief_ratio=relief,
        relief_funding_source="民政局" if relief else "",
    )


@st.composite
def payment_lists(draw) -> list[Payment]:
    return draw(
        st.lists(
            st.builds(
                Payment,
                paid_on=st.dates(min_value=dt.date(2026, 9, 1), max_value=dt.date(2029, 1, 1)),
                amount_fen=st.integers(min_value=1, max_value=10**9),
            ),
            max_size=4,
        )
    )


@st.composite
def late_fee_policies(draw) -> LateFeePolicy:
    kind = draw(st.sampled_from(["daily_rate", "one_off"]))
    top = D("0.01") if kind == "daily_rate" else D("0.5")
    return LateFeePolicy(
        kind=kind,
        rate=draw(st.decimals(min_value=D("0.000001"), max_value=top, places=6)),
        start_date=START,
        cap_ratio=draw(st.decimals(min_value=D(0), max_value=D(2), places=4)),
        stops_at_cutoff=draw(st.booleans()),
    )


@given(
    terms=tariff_terms(),
    area=areas,
    first=season_days,
    length=season_days,
    stop=st.none() | season_days,
)
def test_season_lines_follow_the_sign_rules_and_add_up(terms, area, first, length, stop):
    supply_from = _day(first)
    supply_until = min(_day(first + length), SEASON.end)
    stopped_from = None
    if stop is not None and terms.prorate_by_day:
        stopped_from = min(max(_day(stop), supply_from), supply_until)
    elif stop is not None:
        stopped_from = _day(stop)
    lines = season_fee_lines(
        season=SEASON,
        terms=terms,
        area=ChargeableArea(value=area),
        supply_from=supply_from,
        supply_until=supply_until,
        stopped_from=stopped_from,
    )
    # every line fits the database's sign rule for its kind and is explained
    for line in lines:
        assert line.explanation
        assert (line.kind in CHARGE_KINDS and line.amount_fen >= 0) or (
            line.kind in CREDIT_KINDS and line.amount_fen <= 0
        )
    # charges, surcharge and relief relate as configured, each rounded once
    fees = sum(line.amount_fen for line in lines if line.kind in {"area_fee", "stop_basic_fee"})
    surcharge = sum(line.amount_fen for line in lines if line.kind == "surcharge")
    relief = sum(line.amount_fen for line in lines if line.kind == "relief_subsidy")
    assert abs(Fraction(surcharge) - Fraction(fees) * Fraction(terms.surcharge_ratio)) <= Fraction(
        1, 2
    )
    assert abs(
        Fraction(-relief) - Fraction(fees + surcharge) * Fraction(terms.relief_ratio)
    ) <= Fraction(1, 2)
    # the house never pays less than nothing
    assert sum(line.amount_fen for line in lines) >= 0


@given(area=areas, price=prices, days=st.integers(min_value=1, max_value=SEASON.days))
def test_proration_is_monotonic_exact_and_whole_at_full_season(area, price, days):
    fee = area_fee(
        area=ChargeableArea(value=area),
        price=price,
        first=SEASON.start,
        last=SEASON.start + dt.timedelta(days=days - 1),
        season_days=SEASON.days,
    ).amount_fen
    exact = Fraction(price) * Fraction(area) * 100 * days / SEASON.days
    assert abs(Fraction(fee) - exact) <= Fraction(1, 2)
    if days < SEASON.days:
        longer = area_fee(
            area=ChargeableArea(value=area),
            price=price,
            first=SEASON.start,
            last=SEASON.start + dt.timedelta(days=days),
            season_days=SEASON.days,
        ).amount_fen
        assert longer >= fee
    else:
        assert fee == rate_times_quantity_fen(price, area)


@given(area=areas, price=prices, split=st.integers(min_value=1, max_value=SEASON.days - 1))
def test_two_parts_of_a_season_add_up_to_the_whole_within_a_fen(area, price, split):
    whole = rate_times_quantity_fen(price, area)
    parts = [
        area_fee(
            area=ChargeableArea(value=area),
            price=price,
            first=first,
            last=last,
            season_days=SEASON.days,
        ).amount_fen
        for first, last in [
            (SEASON.start, _day(split - 1)),
            (_day(split), SEASON.end),
        ]
    ]
    assert abs(sum(parts) - whole) <= 1


@settings(max_examples=200)
@given(
    principal=principals,
    policy=late_fee_policies(),
    as_of=st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2030, 12, 31)),
    payments=payment_lists(),
    cut_off=st.none() | st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2030, 1, 1)),
)
def test_the_late_fee_never_exceeds_its_cap(principal, policy, as_of, payments, cut_off):
    line = late_fee(
        principal_fen=principal,
        policy=policy,
        as_of=as_of,
        payments=payments,
        heat_cut_off_on=cut_off,
    )
    if line is None:
        return
    assert line.kind == "late_fee"
    assert 0 < line.amount_fen <= Fraction(principal) * Fraction(policy.cap_ratio)
    assert line.explanation.startswith("滞纳金：")


@given(
    principal=principals,
    policy=late_fee_policies(),
    as_of=st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2029, 12, 31)),
    later_by=st.integers(min_value=1, max_value=400),
    payments=payment_lists(),
    cut_off=st.none() | st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2030, 1, 1)),
)
def test_the_late_fee_never_shrinks_as_time_passes(
    principal, policy, as_of, later_by, payments, cut_off
):
    def fee(day: dt.date) -> int:
        line = late_fee(
            principal_fen=principal,
            policy=policy,
            as_of=day,
            payments=payments,
            heat_cut_off_on=cut_off,
        )
        return line.amount_fen if line else 0

    assert fee(as_of + dt.timedelta(days=later_by)) >= fee(as_of)


@given(
    principal=principals,
    policy=late_fee_policies(),
    as_of=st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2029, 12, 31)),
    payments=payment_lists(),
    extra=st.builds(
        Payment,
        paid_on=st.dates(min_value=dt.date(2026, 9, 1), max_value=dt.date(2029, 1, 1)),
        amount_fen=st.integers(min_value=1, max_value=10**9),
    ),
)
def test_paying_more_never_raises_the_late_fee(principal, policy, as_of, payments, extra):
    def fee(paid: list[Payment]) -> int:
        line = late_fee(principal_fen=principal, policy=policy, as_of=as_of, payments=paid)
        return line.amount_fen if line else 0

    assert fee([*payments, extra]) <= fee(payments)
