"""The API root: /api/v1/, bearer auth by default, one error format."""

from django.conf import settings
from ninja import NinjaAPI

from heatdesk.accounts.api import router as accounts_router
from heatdesk.accounts.auth import bearer
from heatdesk.billing.api import router as billing_router
from heatdesk.bookings.api import router as bookings_router
from heatdesk.core.api import install_error_handlers
from heatdesk.estates.api import router as estates_router
from heatdesk.payments.api import router as payments_router
from heatdesk.payments.api_staff_counter import router as counter_staff_router
from heatdesk.payments.api_staff_reconciliation import router as reconciliation_staff_router
from heatdesk.payments.api_staff_refunds import router as refunds_staff_router

api = NinjaAPI(
    title="HeatDesk API",
    version="1",
    description=(
        "HeatDesk's REST API for the resident app and the WeChat mini-program. Every error has "
        "the body `{code, message, fields}`; `code` is stable, `message` is for people."
    ),
    auth=bearer,
    urls_namespace="api",
    docs_url="/docs",
)
install_error_handlers(api)
api.add_router("", accounts_router)
api.add_router("", estates_router)
api.add_router("", bookings_router)
api.add_router("", billing_router)
api.add_router("", refunds_staff_router)
api.add_router("", counter_staff_router)
api.add_router("", reconciliation_staff_router)
api.add_router("", payments_router)

if settings.SANDBOX:
    from heatdesk.sandbox.api import router as sandbox_router

    api.add_router("/sandbox", sandbox_router)
