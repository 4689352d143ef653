"""Payment data: orders (one per attempt to collect money, online or at the counter), the
notifications providers sent us, refunds, counter shifts, daily reconciliation and alerts.

Every amount is integer fen. Every status moves only by compare-and-set in `payments.services`.
"""

from heatdesk.payments.models.alerts import PaymentAlert
from heatdesk.payments.models.counter import CounterShift
from heatdesk.payments.models.notifies import ProviderNotify
from heatdesk.payments.models.orders import Channel, PaymentOrder, PaymentOrderItem, Provider
from heatdesk.payments.models.reconciliation import ReconciliationItem, ReconciliationReport
from heatdesk.payments.models.refunds import Refund

__all__ = [
    "Channel",
    "CounterShift",
    "PaymentAlert",
    "PaymentOrder",
    "PaymentOrderItem",
    "Provider",
    "ProviderNotify",
    "ReconciliationItem",
    "ReconciliationReport",
    "Refund",
]
