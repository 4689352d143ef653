from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from heatdesk.config.api import api
from heatdesk.core import views as core_views
from heatdesk.payments.receipt_views import receipt_verify

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("privacy/", core_views.privacy_policy, name="privacy-policy"),
    path("receipts/verify/<str:receipt_no>/<str:token>", receipt_verify, name="receipt-verify"),
    path("api/v1/", api.urls),
    path("payments/", include("heatdesk.payments.urls")),
    path("admin/", admin.site.urls),
    path("console/", include("heatdesk.console.urls")),
    path("m/", include("heatdesk.resident.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Residents arrive on a phone: the site's root is their app; staff go to /console/.
    path("", RedirectView.as_view(url="/m/", permanent=False), name="home"),
]

if settings.SANDBOX:
    urlpatterns.insert(0, path("sandbox/", include("heatdesk.sandbox.urls")))

if settings.BENCH_ENDPOINTS:
    urlpatterns.insert(0, path("bench/", include("bench.app.urls")))

# Last, so it never shadows a route: any other path under /api/ is a 404 in the API's format.
urlpatterns.append(re_path(r"^api/", core_views.api_not_found))
