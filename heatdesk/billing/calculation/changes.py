"""报停 / 复供 on a bill already issued: correction lines from the effective date to the end of
the season, per day (a stop's effective date is a fact about days).

A stop takes back the area fee of those days and charges the stop basic fee for them; a resume
does the opposite. The surcharge and the low-income relief follow the change of the charges.
The bill is never edited: these are new lines, and their sum is what the change costs.
"""

import datetime as dt

from heatdesk.billing.calculation.base import (
    CalculationError,
    ChargeableArea,
    DraftLine,
    SeasonDates,
    TariffTerms,
)
from heatdesk.billing.calculation.fees import area_fee, relief_subsidy, stop_basic_fee, surcharge
from heatdesk.billing.choices import CHARGE_KINDS, CREDIT_KINDS, BillLineKind, Pricing

STOP = "stop"
RESUME = "resume"
WORDS = {STOP: "报停", RESUME: "复供"}
# The reason on the line that takes back a kind of charge for the changed days: how the metered
# settlement finds the area fee actually billed in advance.
REVERSAL_REASONS = {
    BillLineKind.AREA_FEE: "报停冲减面积热费",
    BillLineKind.STOP_BASIC_FEE: "复供冲减报停基本热费",
}


def _as_correction(line: DraftLine, words: str) -> DraftLine:
    """A derived line whose sign its kind does not allow (a surcharge taken back, relief
    reduced) is written as an adjustment that says what it corrects."""
    wrong_sign = (line.kind in CHARGE_KINDS and line.amount_fen < 0) or (
        line.kind in CREDIT_KINDS and line.amount_fen > 0
    )
    if not wrong_sign:
        return line
    return DraftLine(
        kind=BillLineKind.ADJUSTMENT,
        amount_fen=line.amount_fen,
        explanation=f"{words}更正 {line.explanation}",
        ratio=line.ratio,
        reason=f"{words}更正",
    )


def heating_change_lines(
    *,
    change: str,
    season: SeasonDates,
    terms: TariffTerms,
    area: ChargeableArea,
    effective_from: dt.date,
) -> list[DraftLine]:
    """The lines that move a bill from heating to stopped (`change="stop"`) or back
    (`"resume"`) for the days from `effective_from` through the season's last day."""
    if change not in WORDS:
        raise CalculationError("未知的变更类型。")
    if not season.start <= effective_from <= season.end:
        raise CalculationError("生效日须在采暖季之内。")
    words = WORDS[change]
    prefix = "按面积预收：" if terms.pricing == Pricing.TWO_PART else ""
    first, last, days = effective_from, season.end, season.days
    heated = area_fee(
        area=area,
        price=terms.area_price,
        first=first,
        last=last,
        season_days=days,
        prefix=f"{words}：{prefix}",
    )
    stopped = stop_basic_fee(
        area=area,
        price=terms.area_price,
        stop_ratio=terms.stop_basic_ratio,
        first=first,
        last=last,
        season_days=days,
    )
    removed, added = (heated, stopped) if change == STOP else (stopped, heated)
    reversal = DraftLine(
        kind=BillLineKind.ADJUSTMENT,
        amount_fen=-removed.amount_fen,
        explanation=f"{words}冲减：{removed.explanation.removeprefix(f'{words}：')}",
        quantity=removed.quantity,
        unit=removed.unit,
        unit_price=removed.unit_price,
        ratio=removed.ratio,
        period_from=removed.period_from,
        period_to=removed.period_to,
        reason=REVERSAL_REASONS[BillLineKind(removed.kind)],
    )
    lines = [line for line in (reversal, added) if line.amount_fen]
    delta = added.amount_fen - removed.amount_fen
    if terms.surcharge_ratio and delta:
        extra = surcharge(base_fen=delta, ratio=terms.surcharge_ratio)
        lines.append(_as_correction(extra, words))
        delta += extra.amount_fen
    if terms.relief_ratio and delta:
        relief = relief_subsidy(
            base_fen=delta, ratio=terms.relief_ratio, funding_source=terms.relief_funding_source
        )
        lines.append(_as_correction(relief, words))
    return [line for line in lines if line.amount_fen]
