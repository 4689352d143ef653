"""Billing data: seasons, versioned tariffs, bills and their append-only lines."""

from heatdesk.billing.choices import (
    CHARGE_KINDS,
    CREDIT_KINDS,
    PRINCIPAL_KINDS,
    AreaBasis,
    BillLineKind,
    LateFeeKind,
    MeteredUnit,
    Pricing,
    SettlementMode,
)
from heatdesk.billing.models.bill import Bill, BillLine
from heatdesk.billing.models.heating_change import HeatingChange
from heatdesk.billing.models.ledger import Allocation, LedgerEntry
from heatdesk.billing.models.meter import MeterReading
from heatdesk.billing.models.run import BillingRun
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.billing.models.tariff import Tariff
from heatdesk.billing.models.waiver import LateFeeWaiver

__all__ = [
    "CHARGE_KINDS",
    "CREDIT_KINDS",
    "PRINCIPAL_KINDS",
    "Allocation",
    "AreaBasis",
    "Bill",
    "BillLine",
    "BillLineKind",
    "BillingRun",
    "HeatingChange",
    "HeatingSeason",
    "LateFeeKind",
    "LateFeeWaiver",
    "LedgerEntry",
    "MeterReading",
    "MeteredUnit",
    "Pricing",
    "SettlementMode",
    "Tariff",
]
