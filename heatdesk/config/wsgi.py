import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatdesk.config.settings")

application = get_wsgi_application()

# Load every URLconf and API module now, then move everything start-up made out of the garbage
# collector's reach: it lives as long as the process, and otherwise every full collection walks
# those ~170,000 objects again, 100–230 ms in the middle of some request (the p99 of a busy
# endpoint). Each server worker imports this module, so each freezes its own heap.
get_resolver().url_patterns  # noqa: B018
gc.collect()
gc.freeze()
