"""Season charges: area fee, 报停 basic fee, non-residential surcharge, low-income relief."""

import datetime as dt
from decimal import Decimal

from heatdesk.billing import explain
from heatdesk.billing.calculation.base import (
    ONE,
    ONE_DAY,
    CalculationError,
    ChargeableArea,
    DraftLine,
    SeasonDates,
    TariffTerms,
    day_ratio,
    days_inclusive,
    days_note,
    fen_for_days,
)
from heatdesk.billing.choices import BillLineKind, Pricing
from heatdesk.core.money import fen_to_yuan, rate_times_quantity_fen


def area_fee(
    *,
    area: ChargeableArea,
    price: Decimal,
    first: dt.date,
    last: dt.date,
    season_days: int,
    prefix: str = "",
) -> DraftLine:
    """面积热费: area × price per season, per day for part of a season."""
    days = days_inclusive(first, last)
    return DraftLine(
        kind=BillLineKind.AREA_FEE,
        amount_fen=fen_for_days(price, area.value, ONE, days, season_days),
        explanation=(
            f"{prefix}{area.label} {explain.area(area.value)}㎡ × {explain.price(price)}元/㎡"
            f"{days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=day_ratio(ONE, days, season_days),
        period_from=first,
        period_to=last,
    )


def stop_basic_fee(
    *,
    area: ChargeableArea,
    price: Decimal,
    stop_ratio: Decimal,
    first: dt.date,
    last: dt.date,
    season_days: int,
) -> DraftLine:
    """报停基本热费: the stop ratio (30% in the published rules) of the area fee, per day."""
    days = days_inclusive(first, last)
    return DraftLine(
        kind=BillLineKind.STOP_BASIC_FEE,
        amount_fen=fen_for_days(price, area.value, stop_ratio, days, season_days),
        explanation=(
            f"报停基本热费：{area.label} {explain.area(area.value)}㎡ × "
            f"{explain.price(price)}元/㎡ × {explain.percent(stop_ratio)}"
            f"{days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=day_ratio(stop_ratio, days, season_days),
        period_from=first,
        period_to=last,
    )


def surcharge(*, base_fen: int, ratio: Decimal) -> DraftLine:
    """非居民加价: a ratio on the season's heating charges (e.g. Changchun's floor-height +5%
    per 0.3 m, configured per tariff)."""
    return DraftLine(
        kind=BillLineKind.SURCHARGE,
        amount_fen=rate_times_quantity_fen(fen_to_yuan(base_fen), ratio),
        explanation=f"非居民加价：热费 {explain.yuan(base_fen)} × {explain.percent(ratio)}",
        ratio=ratio,
    )


def relief_subsidy(*, base_fen: int, ratio: Decimal, funding_source: str) -> DraftLine:
    """低保减免: a negative line paid by a named fund (the government pays the company), kept
    apart from discounts so reports can claim it."""
    if not funding_source:
        raise CalculationError("低保减免须注明资金来源。")
    return DraftLine(
        kind=BillLineKind.RELIEF_SUBSIDY,
        amount_fen=-rate_times_quantity_fen(fen_to_yuan(base_fen), ratio),
        explanation=(
            f"低保减免：热费 {explain.yuan(base_fen)} × {explain.percent(ratio)}，"
            f"由{funding_source}承担"
        ),
        ratio=ratio,
    )


def season_fee_lines(
    *,
    season: SeasonDates,
    terms: TariffTerms,
    area: ChargeableArea,
    supply_from: dt.date | None = None,
    supply_until: dt.date | None = None,
    stopped_from: dt.date | None = None,
) -> list[DraftLine]:
    """The lines of a season bill at issue time.

    * Area pricing charges the area fee; a two-part tariff bills the same area fee in advance
      (按面积预收) and settles on metered heat after the season (`metered_settlement`).
    * Supply for part of the season (`supply_from`/`supply_until`) is charged per day when the
      tariff prorates; when it does not, the whole season is charged.
    * 报停 from `stopped_from` (the season start for a whole-season stop): the days before are
      charged in full, the days from it at the stop ratio. A stop's effective date is a fact
      about days, so this split is always per day.
    * Then the non-residential surcharge on those charges, then low-income relief on the lot.
    """
    first = supply_from or season.start
    last = supply_until or season.end
    if not season.start <= first <= last <= season.end:
        raise CalculationError(
            f"供热期间须在采暖季 {explain.period(season.start, season.end)} 之内。"
        )
    if not terms.prorate_by_day:
        first, last = season.start, season.end
    if stopped_from is not None and not first <= stopped_from <= last:
        raise CalculationError(f"报停日期须在供热期间 {explain.period(first, last)} 之内。")

    lines: list[DraftLine] = []
    heated_last = last if stopped_from is None else stopped_from - ONE_DAY
    if heated_last >= first:
        prefix = "按面积预收：" if terms.pricing == Pricing.TWO_PART else ""
        lines.append(
            area_fee(
                area=area,
                price=terms.area_price,
                first=first,
                last=heated_last,
                season_days=season.days,
                prefix=prefix,
            )
        )
    if stopped_from is not None:
        lines.append(
            stop_basic_fee(
                area=area,
                price=terms.area_price,
                stop_ratio=terms.stop_basic_ratio,
                first=stopped_from,
                last=last,
                season_days=season.days,
            )
        )
    charges = sum(line.amount_fen for line in lines)
    if terms.surcharge_ratio:
        extra = surcharge(base_fen=charges, ratio=terms.surcharge_ratio)
        lines.append(extra)
        charges += extra.amount_fen
    if terms.relief_ratio:
        lines.append(
            relief_subsidy(
                base_fen=charges,
                ratio=terms.relief_ratio,
                funding_source=terms.relief_funding_source,
            )
        )
    return lines
