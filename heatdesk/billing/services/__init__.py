"""Billing writes: seasons and their transitions, tariff versions, issuing and correcting bills.

Every transition is a compare-and-set UPDATE on the status the service just read; a bill's lines
and its `total_fen` change together in `bills._lines_append` and nowhere else.
"""

from heatdesk.billing.services.bills import (
    ADJUSTABLE,
    bill_adjust,
    bill_calculate,
    bill_issue,
    bill_void,
)
from heatdesk.billing.services.common import SEASON_FIELDS, TARIFF_TERMS
from heatdesk.billing.services.heat_cut_off import bill_heat_cut_off_clear, bill_heat_cut_off_record
from heatdesk.billing.services.seasons import (
    season_close,
    season_create,
    season_open,
    season_update,
)
from heatdesk.billing.services.tariffs import tariff_create, tariff_new_version, tariff_update

__all__ = [
    "ADJUSTABLE",
    "SEASON_FIELDS",
    "TARIFF_TERMS",
    "bill_adjust",
    "bill_calculate",
    "bill_heat_cut_off_clear",
    "bill_heat_cut_off_record",
    "bill_issue",
    "bill_void",
    "season_close",
    "season_create",
    "season_open",
    "season_update",
    "tariff_create",
    "tariff_new_version",
    "tariff_update",
]
