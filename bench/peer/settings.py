"""Settings of the peer project: django-appointment on its own PostgreSQL database, with the
production-like choices HeatDesk's bench server makes (DEBUG off, persistent connections,
warnings-only logging, Asia/Shanghai)."""

import logging
import os
from urllib.parse import unquote, urlsplit

_db = urlsplit(os.environ["DATABASE_URL"])
if _db.hostname != "127.0.0.1":
    raise RuntimeError("the peer bench runs on 127.0.0.1 only")

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "phonenumber_field",
    "appointment",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.peer.urls"
WSGI_APPLICATION = "bench.peer.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": unquote(_db.username or ""),
        "PASSWORD": unquote(_db.password or ""),
        "HOST": _db.hostname,
        "PORT": _db.port or 5432,
        "CONN_MAX_AGE": 600,
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
LANGUAGE_CODE = "zh-hans"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PHONENUMBER_DEFAULT_REGION = "CN"

# The package's loggers are set to DEBUG with a stdout handler at import; HeatDesk's bench server
# logs warnings only, so the peer does too.
logging.disable(logging.INFO)
