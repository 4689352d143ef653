"""Billing API schemas. Money is always an integer number of fen (`*_fen`)."""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

# --- Resident -----------------------------------------------------------------------------------


class BillLineOut(Schema):
    kind: str
    kind_label: str
    explanation: str
    amount_fen: int
    quantity: Decimal | None
    unit: str
    unit_price: Decimal | None
    ratio: Decimal | None
    period_from: dt.date | None
    period_to: dt.date | None
    reason: str
    created_at: str


class DerivedLineOut(Schema):
    """An amount that is not on the bill yet: the late fee or the early discount as of today."""

    kind: str
    kind_label: str
    explanation: str
    amount_fen: int


class BillOut(Schema):
    id: str = Field(description="The bill's public id")
    house_id: str
    account_no: str
    season: str
    status: str
    status_label: str
    total_fen: int = Field(description="The sum of the bill's lines")
    paid_fen: int
    outstanding_fen: int = Field(description="total_fen − paid_fen")
    as_of: dt.date
    late_fee_fen: int = Field(description="The late fee as of today, fixed or derived")
    late_fee_fixed: bool
    heat_cut_off_on: dt.date | None = Field(
        None, description="停热日期: no late fee accrues from this day on (if the season says so)"
    )
    early_discount_fen: int = Field(description="Off if paid in full today (≤ 0)")
    due_today_fen: int = Field(description="What settles the bill today")
    payment_due_date: dt.date
    issued_at: str | None


class BillDetailOut(BillOut):
    lines: list[BillLineOut]
    derived: list[DerivedLineOut] = Field(description="Late fee / discount not yet on the bill")


class SeasonDueOut(Schema):
    season: str
    bill_id: str
    status: str
    outstanding_fen: int
    late_fee_fen: int
    due_fen: int
    arrears: bool = Field(description="From a season that has ended (往年欠费)")


class AccountOut(Schema):
    house_id: str
    as_of: dt.date
    owed_fen: int = Field(description="The ledger's sum; negative is credit")
    credit_fen: int = Field(description="Money on the account not used by any bill")
    due_fen: int = Field(description="What settles everything today, late fees included")
    arrears_fen: int = Field(description="Part of due_fen from seasons that have ended")
    bills: list[SeasonDueOut]


class LedgerEntryOut(Schema):
    kind: str
    kind_label: str
    amount_fen: int = Field(description="Positive raises what is owed, negative lowers it")
    balance_fen: int = Field(description="What the house owed after this entry")
    explanation: str
    bill_id: str | None
    season: str | None
    occurred_at: str


class HeatingChangeIn(Schema):
    season: str = Field(..., max_length=9, description="采暖年度, e.g. 2026-2027")
    kind: Literal["stop", "resume"]
    requested_from: dt.date | None = Field(None, description="Default: the season's first day")
    note: str = Field("", max_length=200)


class HeatingChangeOut(Schema):
    id: str
    house_id: str
    account_no: str
    season: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    requested_from: dt.date
    effective_from: dt.date | None
    note: str
    decision_reason: str
    applied_at: str
    decided_at: str | None


# --- Staff --------------------------------------------------------------------------------------


class SeasonIn(Schema):
    code: str = Field(..., pattern=r"^\d{4}-\d{4}$")
    heating_start: dt.date
    heating_end: dt.date
    bill_issue_date: dt.date
    payment_due_date: dt.date
    stop_apply_deadline: dt.date
    early_discount_rate: Decimal | None = None
    early_discount_last_day: dt.date | None = None
    late_fee_kind: Literal["none", "daily_rate", "one_off"] = "none"
    late_fee_rate: Decimal = Decimal(0)
    late_fee_start_date: dt.date | None = None
    late_fee_cap_ratio: Decimal = Decimal(1)
    late_fee_stops_at_cutoff: bool = True


class SeasonOut(SeasonIn):
    status: str
    status_label: str
    days: int


class TariffIn(Schema):
    usage_type: Literal["residential", "non_residential"]
    user_type: Literal["normal", "low_income"]
    pricing: Literal["area", "two_part"]
    area_basis: Literal["building", "heated"] = "building"
    area_price: Decimal
    basic_price: Decimal | None = None
    basic_ratio: Decimal | None = None
    metered_price: Decimal | None = None
    metered_unit: Literal["", "GJ", "kWh"] = ""
    settlement_mode: Literal["refund_and_topup", "refund_only"] = "refund_and_topup"
    settlement_cap_ratio: Decimal | None = None
    stop_basic_ratio: Decimal = Decimal("0.30")
    prorate_by_day: bool = True
    surcharge_ratio: Decimal = Decimal(0)
    relief_ratio: Decimal = Decimal(0)
    relief_funding_source: str = Field("", max_length=100)
    note: str = Field("", max_length=200)


class TariffVersionIn(Schema):
    """Terms to change in the new version; the others are copied."""

    changes: dict[str, Any]


class TariffOut(TariffIn):
    id: int
    season: str
    version: int
    in_use: bool


class RunStartIn(Schema):
    batch_size: int = Field(5000, ge=1, le=50000)


class RunTotalOut(Schema):
    community: str
    usage_type: str
    usage_label: str
    houses: int
    amount_fen: int


class AnomalyOut(Schema):
    kind: str
    label: str
    count: int
    samples: list[dict[str, Any]]


class TallyOut(Schema):
    counts: dict[str, int]
    totals: list[RunTotalOut]
    anomalies: list[AnomalyOut]


class RunOut(Schema):
    id: str
    season: str
    status: str
    status_label: str
    phase: str
    batch_size: int
    total: int
    processed: int
    progress_percent: int
    preview: TallyOut
    result: TallyOut | None
    error: str
    created_at: str
    previewed_at: str | None
    commit_started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None


class RunCancelIn(Schema):
    reason: str = Field("", max_length=200)


class AdjustmentIn(Schema):
    amount_fen: int = Field(..., description="Non-zero fen; negative lowers the bill")
    reason: str = Field(..., min_length=1, max_length=200)


class HeatCutOffIn(Schema):
    cut_off_on: dt.date = Field(..., description="停热日期: the day heat was cut off")
    reason: str = Field(..., min_length=1, max_length=200)


class HeatCutOffClearIn(Schema):
    reason: str = Field(..., min_length=1, max_length=200)


class DecisionIn(Schema):
    effective_from: dt.date | None = Field(None, description="Default: the date applied for")


class RejectIn(Schema):
    reason: str = Field(..., min_length=1, max_length=200)


class MeterImportOut(Schema):
    import_ref: str
    created: int


class SettlementOut(Schema):
    settled: int
    refused: dict[str, str]


class LateFeeWaiverIn(Schema):
    amount_fen: int = Field(..., description="Fen of the late fee to waive (> 0)")
    reason: str = Field(..., min_length=1, max_length=200)


class LateFeeWaiverRejectIn(Schema):
    note: str = Field(..., min_length=1, max_length=200)


class LateFeeWaiverOut(Schema):
    id: str
    bill_id: str
    account_no: str
    season: str
    amount_fen: int
    reason: str
    status: str
    status_label: str
    requested_by: int
    requested_at: str
    decided_by: int | None
    decided_at: str | None
    decision_note: str
    line: BillLineOut | None = Field(None, description="The 滞纳金减免 credit line, once approved")
