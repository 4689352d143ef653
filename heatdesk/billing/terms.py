"""Rows to calculator inputs: the one place that reads models into `calculation` dataclasses."""

from heatdesk.billing.calculation import (
    ChargeableArea,
    EarlyDiscountPolicy,
    LateFeePolicy,
    SeasonDates,
    TariffTerms,
)
from heatdesk.billing.choices import AreaBasis
from heatdesk.billing.models import Bill, HeatingSeason, Tariff
from heatdesk.estates.models import House


def season_dates(season: HeatingSeason) -> SeasonDates:
    return SeasonDates(start=season.heating_start, end=season.heating_end)


def tariff_terms(tariff: Tariff) -> TariffTerms:
    return TariffTerms(
        pricing=tariff.pricing,
        area_price=tariff.area_price,
        basic_price=tariff.basic_price,
        basic_ratio=tariff.basic_ratio,
        metered_price=tariff.metered_price,
        metered_unit=tariff.metered_unit,
        settlement_mode=tariff.settlement_mode,
        settlement_cap_ratio=tariff.settlement_cap_ratio,
        stop_basic_ratio=tariff.stop_basic_ratio,
        prorate_by_day=tariff.prorate_by_day,
        surcharge_ratio=tariff.surcharge_ratio,
        relief_ratio=tariff.relief_ratio,
        relief_funding_source=tariff.relief_funding_source,
    )


def chargeable_area(*, house: House, area_basis: str) -> ChargeableArea:
    if area_basis == AreaBasis.HEATED:
        return ChargeableArea(value=house.heated_area, label=AreaBasis.HEATED.label)
    return ChargeableArea(value=house.building_area, label=AreaBasis.BUILDING.label)


def chargeable_area_of_bill(bill: Bill) -> ChargeableArea:
    """The area a bill was computed on, as it snapshotted it."""
    label = AreaBasis(bill.area_basis).label
    return ChargeableArea(value=bill.area, label=str(label))


def late_fee_policy(season: HeatingSeason) -> LateFeePolicy:
    return LateFeePolicy(
        kind=season.late_fee_kind,
        rate=season.late_fee_rate,
        start_date=season.late_fee_start_date,
        cap_ratio=season.late_fee_cap_ratio,
        stops_at_cutoff=season.late_fee_stops_at_cutoff,
    )


def early_discount_policy(season: HeatingSeason) -> EarlyDiscountPolicy | None:
    if season.early_discount_rate is None or season.early_discount_last_day is None:
        return None
    return EarlyDiscountPolicy(
        rate=season.early_discount_rate, last_day=season.early_discount_last_day
    )
