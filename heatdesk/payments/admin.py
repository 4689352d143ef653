from heatdesk.payments import (
    admin_counter,  # noqa: F401 - registers the counter shift admin
    admin_orders,  # noqa: F401 - registers the order, notify and alert admins
    admin_reconciliation,  # noqa: F401 - registers the reconciliation report and item admins
    admin_refunds,  # noqa: F401 - registers the refund admin
)
