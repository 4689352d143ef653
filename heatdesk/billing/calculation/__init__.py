"""Pure heating-fee calculators: plain values in, explained draft lines out. No database.

Conventions (they are the rules a bill can be checked against by hand):

* Money is integer fen; prices, areas, quantities and ratios are Decimal. Each line is rounded
  once, half-up, to the fen: `core.money.rate_times_quantity_fen` for whole-season lines, and
  the same rule applied to the exact fraction for per-day lines (days ÷ season days is rarely a
  finite decimal, so it is never rounded on its own — see `base.fen_for_days`).
* Days are Asia/Shanghai local dates counted inclusively at both ends: a season from
  2026-11-15 to 2027-03-15 has 121 days; supply from 2027-01-15 to its end is 60 of them.
* Per-day proration = season amount × days ÷ season days.
* Lines derived from other lines (surcharge, relief, discount, late fee) are computed on the
  already-rounded fen of those lines and rounded once themselves.
"""

from heatdesk.billing.calculation.base import (
    CalculationError,
    ChargeableArea,
    DraftLine,
    EarlyDiscountPolicy,
    LateFeePolicy,
    Payment,
    SeasonDates,
    TariffTerms,
    days_inclusive,
)
from heatdesk.billing.calculation.changes import heating_change_lines
from heatdesk.billing.calculation.deadlines import early_discount, late_fee
from heatdesk.billing.calculation.fees import (
    area_fee,
    relief_subsidy,
    season_fee_lines,
    stop_basic_fee,
    surcharge,
)
from heatdesk.billing.calculation.metered import (
    basic_fee,
    metered_fee,
    metered_settlement,
    two_part_fee,
)

__all__ = [
    "CalculationError",
    "ChargeableArea",
    "DraftLine",
    "EarlyDiscountPolicy",
    "LateFeePolicy",
    "Payment",
    "SeasonDates",
    "TariffTerms",
    "area_fee",
    "basic_fee",
    "days_inclusive",
    "early_discount",
    "heating_change_lines",
    "late_fee",
    "metered_fee",
    "metered_settlement",
    "relief_subsidy",
    "season_fee_lines",
    "stop_basic_fee",
    "surcharge",
    "two_part_fee",
]
