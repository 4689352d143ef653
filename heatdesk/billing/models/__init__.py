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
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.billing.models.tariff import Tariff

__all__ = [
    "CHARGE_KINDS",
    "CREDIT_KINDS",
    "PRINCIPAL_KINDS",
    "AreaBasis",
    "Bill",
    "BillLine",
    "BillLineKind",
    "HeatingSeason",
    "LateFeeKind",
    "MeteredUnit",
    "Pricing",
    "SettlementMode",
    "Tariff",
]
