"""Two-part tariffs: the basic part, metered heat, and the settlement after the season."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from heatdesk.billing import explain
from heatdesk.billing.calculation.base import (
    ONE,
    CalculationError,
    ChargeableArea,
    DraftLine,
    TariffTerms,
    day_ratio,
    days_inclusive,
    days_note,
    fen_for_days,
    floor_fen,
)
from heatdesk.billing.choices import BillLineKind, SettlementMode
from heatdesk.core.money import rate_times_quantity_fen


def basic_fee(
    *, area: ChargeableArea, terms: TariffTerms, first: dt.date, last: dt.date, season_days: int
) -> DraftLine:
    """基本热费 of a two-part tariff: its own price per ㎡, or a ratio of the area price."""
    days = days_inclusive(first, last)
    if terms.basic_price is not None:
        price, ratio, ratio_note = terms.basic_price, ONE, ""
    elif terms.basic_ratio is not None:
        price, ratio = terms.area_price, terms.basic_ratio
        ratio_note = f" × {explain.percent(ratio)}"
    else:
        raise CalculationError("两部制热价缺少基本热价或基本热价比例。")
    return DraftLine(
        kind=BillLineKind.BASIC_FEE,
        amount_fen=fen_for_days(price, area.value, ratio, days, season_days),
        explanation=(
            f"基本热费：{area.label} {explain.area(area.value)}㎡ × {explain.price(price)}元/㎡"
            f"{ratio_note}{days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=day_ratio(ratio, days, season_days),
        period_from=first,
        period_to=last,
    )


def metered_fee(*, quantity: Decimal, unit: str, price: Decimal) -> DraftLine:
    """计量热费: metered heat × price per GJ or kWh."""
    if quantity < 0:
        raise CalculationError("计量热量不能为负数。")
    return DraftLine(
        kind=BillLineKind.METERED_FEE,
        amount_fen=rate_times_quantity_fen(price, quantity),
        explanation=(
            f"计量热费：{explain.quantity(quantity)}{unit} × {explain.price(price)}元/{unit}"
        ),
        quantity=quantity,
        unit=unit,
        unit_price=price,
        ratio=ONE,
    )


def two_part_fee(
    *,
    area: ChargeableArea,
    terms: TariffTerms,
    metered_quantity: Decimal,
    first: dt.date,
    last: dt.date,
    season_days: int,
) -> list[DraftLine]:
    """两部制: the basic part on the area (per day for part of a season) plus metered heat."""
    if terms.metered_price is None or not terms.metered_unit:
        raise CalculationError("两部制热价缺少计量热价。")
    return [
        basic_fee(area=area, terms=terms, first=first, last=last, season_days=season_days),
        metered_fee(quantity=metered_quantity, unit=terms.metered_unit, price=terms.metered_price),
    ]


def metered_settlement(
    *, advance_fen: int, charges: Sequence[DraftLine], terms: TariffTerms
) -> list[DraftLine]:
    """After the season: the two-part charges replace the area fee billed in advance.

    Refund-and-top-up (多退少补) charges the two-part total. Refund-only (多退少不补) charges at
    most `settlement_cap_ratio` × the advance (1.00 in Beijing, 1.15 in Tangshan's pilot); the
    cap is rounded down so it is never exceeded. Returns the charges plus the offsetting lines,
    so the bill's new total is what the house owes for the season.
    """
    lines = list(charges)
    actual = sum(line.amount_fen for line in charges)
    if advance_fen:
        lines.append(
            DraftLine(
                kind=BillLineKind.ADJUSTMENT,
                amount_fen=-advance_fen,
                explanation=f"计量结算：冲减按面积预收热费 {explain.yuan(advance_fen)}",
                reason="计量结算",
            )
        )
    if terms.settlement_mode == SettlementMode.REFUND_ONLY:
        if terms.settlement_cap_ratio is None:
            raise CalculationError("多退少不补须设置封顶比例。")
        cap_fen = floor_fen(Decimal(advance_fen) * terms.settlement_cap_ratio)
        if actual > cap_fen:
            lines.append(
                DraftLine(
                    kind=BillLineKind.ADJUSTMENT,
                    amount_fen=cap_fen - actual,
                    explanation=(
                        f"多退少不补：超出预收热费 {explain.yuan(advance_fen)} × "
                        f"{explain.percent(terms.settlement_cap_ratio)} = "
                        f"{explain.yuan(cap_fen)} 的部分不再收取"
                    ),
                    ratio=terms.settlement_cap_ratio,
                    reason="计量结算封顶",
                )
            )
    return lines
