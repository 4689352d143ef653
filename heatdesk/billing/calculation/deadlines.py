"""What paying early or late does: the early-payment discount and the late fee, as of a date."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from heatdesk.billing import explain
from heatdesk.billing.calculation.base import (
    ONE_DAY,
    DraftLine,
    EarlyDiscountPolicy,
    LateFeePolicy,
    Payment,
    days_inclusive,
    floor_fen,
)
from heatdesk.billing.choices import BillLineKind, LateFeeKind
from heatdesk.core.money import fen_to_yuan, rate_times_quantity_fen


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
    cap_fen = floor_fen(Decimal(principal_fen) * policy.cap_ratio)
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
