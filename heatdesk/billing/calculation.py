"""Pure heating-fee calculators: plain values in, explained draft lines out. No database.

Conventions (they are the rules a bill can be checked against by hand):

* Money is integer fen; prices, areas, quantities and ratios are Decimal. Each line is rounded
  once, half-up, to the fen: `core.money.rate_times_quantity_fen` for whole-season lines, and
  the same rule applied to the exact fraction for per-day lines (days ÷ season days is rarely a
  finite decimal, so it is never rounded on its own — see `_fen_for_days`).
* Days are Asia/Shanghai local dates counted inclusively at both ends: a season from
  2026-11-15 to 2027-03-15 has 121 days; supply from 2027-01-15 to its end is 60 of them.
* Per-day proration = season amount × days ÷ season days.
* Lines derived from other lines (surcharge, relief, discount, late fee) are computed on the
  already-rounded fen of those lines and rounded once themselves.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from heatdesk.billing import explain
from heatdesk.billing.choices import BillLineKind, LateFeeKind, Pricing, SettlementMode
from heatdesk.core.money import fen_to_yuan, rate_times_quantity_fen

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


def _round_half_up(exact: Fraction) -> int:
    whole, rest = divmod(abs(exact.numerator), exact.denominator)
    if 2 * rest >= exact.denominator:
        whole += 1
    return -whole if exact < 0 else whole


def _fen_for_days(
    price: Decimal, quantity: Decimal, ratio: Decimal, days: int, season_days: int
) -> int:
    """price × quantity × ratio × days ÷ season_days in fen, rounded half-up once, exactly."""
    if days == season_days:
        return rate_times_quantity_fen(price, quantity, ratio)
    exact = Fraction(price) * Fraction(quantity) * Fraction(ratio) * 100 * days / season_days
    return _round_half_up(exact)


def _day_ratio(ratio: Decimal, days: int, season_days: int) -> Decimal:
    """The multiplier shown in a line's ratio column (10 places; the amount uses the fraction)."""
    return (ratio * days / season_days).quantize(Decimal("0.0000000001"))


def _days_note(days: int, season_days: int, first: dt.date, last: dt.date) -> str:
    if days == season_days:
        return ""
    return f" × {days}/{season_days}天（{explain.period(first, last)}）"


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
        amount_fen=_fen_for_days(price, area.value, ONE, days, season_days),
        explanation=(
            f"{prefix}{area.label} {explain.area(area.value)}㎡ × {explain.price(price)}元/㎡"
            f"{_days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=_day_ratio(ONE, days, season_days),
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
        amount_fen=_fen_for_days(price, area.value, stop_ratio, days, season_days),
        explanation=(
            f"报停基本热费：{area.label} {explain.area(area.value)}㎡ × "
            f"{explain.price(price)}元/㎡ × {explain.percent(stop_ratio)}"
            f"{_days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=_day_ratio(stop_ratio, days, season_days),
        period_from=first,
        period_to=last,
    )


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
        amount_fen=_fen_for_days(price, area.value, ratio, days, season_days),
        explanation=(
            f"基本热费：{area.label} {explain.area(area.value)}㎡ × {explain.price(price)}元/㎡"
            f"{ratio_note}{_days_note(days, season_days, first, last)}"
        ),
        quantity=area.value,
        unit="㎡",
        unit_price=price,
        ratio=_day_ratio(ratio, days, season_days),
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
        cap_fen = _floor_fen(Decimal(advance_fen) * terms.settlement_cap_ratio)
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


def early_discount(
    *, principal_fen: int, policy: EarlyDiscountPolicy | None, paid_on: dt.date
) -> DraftLine | None:
    """提前缴费优惠 for a bill settled in full on `paid_on`; None after the last day."""
    if policy is None or paid_on > policy.last_day or principal_fen <= 0:
        return None
    return DraftLine(
        kind=BillLineKind.EARLY_DISCOUNT,
        amount_fen=-rate_times_quantity_fen(fen_to_yuan(principal_fen), policy.rate),
        explanation=(
            f"提前缴费优惠：{explain.yuan(principal_fen)} × {explain.percent(policy.rate)}"
            f"（{explain.day(policy.last_day)}前缴清）"
        ),
        ratio=policy.rate,
    )


def _floor_fen(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def late_fee(
    *,
    principal_fen: int,
    policy: LateFeePolicy,
    as_of: dt.date,
    payments: Sequence[Payment] = (),
    heat_cut_off_on: dt.date | None = None,
) -> DraftLine | None:
    """滞纳金 as of a date, derived (never accrued in storage); None when nothing is due.

    Daily: for each day from the start date through `as_of`, rate × the principal still unpaid
    at the start of that day (a payment counts from the next day). When so configured, no day
    from the heat cut-off date on accrues (Tianjin). One-off: rate × the principal still unpaid
    when the start date begins (Changchun's 5%). Either way the fee never exceeds
    cap_ratio × principal, that cap rounded down.
    """
    if policy.kind == LateFeeKind.NONE or policy.start_date is None or principal_fen <= 0:
        return None
    start = policy.start_date
    if as_of < start:
        return None
    cap_fen = _floor_fen(Decimal(principal_fen) * policy.cap_ratio)
    ordered = sorted(payments, key=lambda p: p.paid_on)

    def unpaid_at_start_of(day: dt.date) -> int:
        paid = sum(p.amount_fen for p in ordered if p.paid_on < day)
        return max(principal_fen - paid, 0)

    if policy.kind == LateFeeKind.ONE_OFF:
        unpaid = unpaid_at_start_of(start)
        amount = min(rate_times_quantity_fen(fen_to_yuan(unpaid), policy.rate), cap_fen)
        explanation = (
            f"滞纳金：{explain.day(start)}起逾期未缴本金 {explain.yuan(unpaid)} × "
            f"{explain.percent(policy.rate)}（一次性）"
        )
        quantity, unit, last = Decimal(1), "次", start
    else:
        last = as_of
        cut_note = ""
        if policy.stops_at_cutoff and heat_cut_off_on is not None and heat_cut_off_on <= as_of:
            last = heat_cut_off_on - ONE_DAY
            cut_note = f"；{explain.day(heat_cut_off_on)}起停止供热，不再计收"
        days = days_inclusive(start, last)
        if days == 0:
            return None
        fen_days = 0
        for offset in range(days):
            fen_days += unpaid_at_start_of(start + dt.timedelta(days=offset))
        amount = min(rate_times_quantity_fen(fen_to_yuan(fen_days), policy.rate), cap_fen)
        if fen_days == unpaid_at_start_of(start) * days:
            basis = f"未缴本金 {explain.yuan(unpaid_at_start_of(start))} × "
        else:
            basis = "每日未缴本金（缴费后按余额）× "
        explanation = (
            f"滞纳金：{basis}{explain.permille(policy.rate)}/天 × {days}天"
            f"（{explain.period(start, last)}）{cut_note}"
        )
        quantity, unit = Decimal(days), "天"
    if amount <= 0:
        return None
    if amount == cap_fen:
        explanation += (
            f"；已达上限：本金 {explain.yuan(principal_fen)} × "
            f"{explain.percent(policy.cap_ratio)} = {explain.yuan(cap_fen)}"
        )
    return DraftLine(
        kind=BillLineKind.LATE_FEE,
        amount_fen=amount,
        explanation=explanation,
        quantity=quantity,
        unit=unit,
        ratio=policy.rate,
        period_from=start,
        period_to=last,
    )
