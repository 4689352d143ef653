"""Worked examples of the early-payment discount and the late fee (reference §3.4, §3.5):
Tianjin's daily 2‰ that stops when heat is cut off, Changchun's one-off 5%, both capped.
Amounts are worked out by hand beside each case."""

import datetime as dt
from decimal import Decimal as D

import pytest

from heatdesk.billing.calculation import (
    EarlyDiscountPolicy,
    LateFeePolicy,
    Payment,
    early_discount,
    late_fee,
)

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
