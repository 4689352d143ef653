"""Calculator inputs and outputs, and the day and rounding arithmetic they share."""

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from heatdesk.billing import explain
from heatdesk.billing.choices import SettlementMode
from heatdesk.core.money import rate_times_quantity_fen

ONE = Decimal(1)
ONE_DAY = dt.timedelta(days=1)


class CalculationError(ValueError):
    """Inputs that cannot make a bill (dates outside the season and the like); message in 中文."""


@dataclass(frozen=True)
class DraftLine:
    """A bill line before it is saved: what `billing.services` turns into a `BillLine`."""

    kind: str
    amount_fen: int
    explanation: str
    quantity: Decimal | None = None
    unit: str = ""
    unit_price: Decimal | None = None
    ratio: Decimal | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    reason: str = ""


@dataclass(frozen=True)
class SeasonDates:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return days_inclusive(self.start, self.end)


@dataclass(frozen=True)
class ChargeableArea:
    """The area a tariff charges on, with the words that name it on the bill."""

    value: Decimal
    label: str = "建筑面积"


@dataclass(frozen=True)
class TariffTerms:
    pricing: str
    area_price: Decimal
    basic_price: Decimal | None = None
    basic_ratio: Decimal | None = None
    metered_price: Decimal | None = None
    metered_unit: str = ""
    settlement_mode: str = SettlementMode.REFUND_AND_TOPUP
    settlement_cap_ratio: Decimal | None = None
    stop_basic_ratio: Decimal = Decimal("0.30")
    prorate_by_day: bool = True
    surcharge_ratio: Decimal = Decimal(0)
    relief_ratio: Decimal = Decimal(0)
    relief_funding_source: str = ""


@dataclass(frozen=True)
class EarlyDiscountPolicy:
    rate: Decimal
    last_day: dt.date


@dataclass(frozen=True)
class LateFeePolicy:
    kind: str
    rate: Decimal = Decimal(0)
    start_date: dt.date | None = None
    cap_ratio: Decimal = ONE
    stops_at_cutoff: bool = True


@dataclass(frozen=True)
class Payment:
    """Money received against a bill's principal; it counts from the day after `paid_on`."""

    paid_on: dt.date
    amount_fen: int


def days_inclusive(first: dt.date, last: dt.date) -> int:
    """Days from `first` to `last`, both counted; 0 when `last` is before `first`."""
    return max((last - first).days + 1, 0)


def round_half_up(exact: Fraction) -> int:
    whole, rest = divmod(abs(exact.numerator), exact.denominator)
    if 2 * rest >= exact.denominator:
        whole += 1
    return -whole if exact < 0 else whole


def fen_for_days(
    price: Decimal, quantity: Decimal, ratio: Decimal, days: int, season_days: int
) -> int:
    """price × quantity × ratio × days ÷ season_days in fen, rounded half-up once, exactly."""
    if days == season_days:
        return rate_times_quantity_fen(price, quantity, ratio)
    exact = Fraction(price) * Fraction(quantity) * Fraction(ratio) * 100 * days / season_days
    return round_half_up(exact)


def day_ratio(ratio: Decimal, days: int, season_days: int) -> Decimal:
    """The multiplier shown in a line's ratio column (10 places; the amount uses the fraction)."""
    return (ratio * days / season_days).quantize(Decimal("0.0000000001"))


def days_note(days: int, season_days: int, first: dt.date, last: dt.date) -> str:
    if days == season_days:
        return ""
    return f" × {days}/{season_days}天（{explain.period(first, last)}）"


def floor_fen(value: Decimal) -> int:
    """A ceiling in fen is rounded down, so it is never exceeded."""
    return int(value.to_integral_value(rounding=ROUND_FLOOR))
