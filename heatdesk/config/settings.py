"""HeatDesk settings: one module, driven by environment variables (see the README's table)."""

import base64
import hashlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from heatdesk.config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("HEATDESK_VAR_DIR", str(BASE_DIR / "var")))

HEATDESK_ENV = env_str("HEATDESK_ENV", "development")
if HEATDESK_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("HEATDESK_ENV must be development, production or test")
PRODUCTION = HEATDESK_ENV == "production"

DEV_SECRET = "heatdesk-development-only-secret"  # noqa: S105 - refused in production below
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET)
DEBUG = env_bool("DEBUG", default=False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Sandbox: local simulators (SMS inbox, WeChat login, payment providers). Never in production.
SANDBOX = env_bool("HEATDESK_SANDBOX", default=not PRODUCTION)
# Bench-only endpoints (bare JSON, one-row read, one-row insert), mounted only by `make bench`.
BENCH_ENDPOINTS = env_bool("HEATDESK_BENCH", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",  # serves the API docs' Swagger UI from our static files, never a CDN
    "heatdesk.core",
    "heatdesk.audit",
    "heatdesk.accounts",
    "heatdesk.notifications",
    "heatdesk.estates",
    "heatdesk.payments",
    "heatdesk.bookings",
    "heatdesk.billing",
    "heatdesk.sandbox",
    "heatdesk.console",
    "heatdesk.resident",
]
if BENCH_ENDPOINTS:
    INSTALLED_APPS.append("bench.app")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "heatdesk.core.middleware.RefuseNulCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "heatdesk.core.middleware.ApiMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "heatdesk.config.urls"
WSGI_APPLICATION = "heatdesk.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "heatdesk.core.context_processors.heatdesk",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://… in production); the embedded default is SQLite under var/.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'heatdesk.sqlite3'}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions: writers queue on the database lock instead of failing on
    # upgrade, so SQLite decides races the same way PostgreSQL's row locks do.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA foreign_keys=ON;",
    }
_db["ATOMIC_REQUESTS"] = False
# The hottest reads (the token check, the house list) are prepared once per PostgreSQL connection
# (heatdesk.core.rows). Turn off behind a transaction-mode pooler such as PgBouncer, which does
# not keep SQL-level prepared statements.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", default=True)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when REDIS_URL is set, else local memory (nothing correctness-critical is cached;
# rate limits live in the database or Redis, see heatdesk.core.ratelimit).
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {"default": {"BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "heatdesk" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Security headers; HTTPS-only cookies when served behind TLS in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
# How many reverse proxies sit in front of the server; their X-Forwarded-For hops are trusted.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)


def _dev_key(label: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{DEV_SECRET}:{label}".encode()).digest()).decode()


_DEV_FIELD_KEYS = f"dev1:{_dev_key('field')}"
# Personal data encryption: "kid:base64key,kid2:base64key" (AES-256-GCM); the first key encrypts,
# all of them decrypt: put a new key first, then re-encrypt old rows with `heatdesk rekey`.
FIELD_ENCRYPTION_KEYS = env_str("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEYS)
# Keyed hash (HMAC-SHA256) for looking personal data up without decrypting it (blind index).
BLIND_INDEX_KEY = env_str("BLIND_INDEX_KEY", _dev_key("blind-index"))

# SMS: sandbox (inbox page), aliyun or tencent.
SMS_PROVIDER = env_str("SMS_PROVIDER", "sandbox" if SANDBOX else "")
SMS_SIGN_NAME = env_str("SMS_SIGN_NAME", "HeatDesk")
SMS_LOGIN_TEMPLATE = env_str("SMS_LOGIN_TEMPLATE", "")
# Provider template codes of the booking notices (empty: the template's own name is sent).
SMS_BOOKING_CONFIRMED_TEMPLATE = env_str("SMS_BOOKING_CONFIRMED_TEMPLATE", "")
SMS_BOOKING_RECEIVED_TEMPLATE = env_str("SMS_BOOKING_RECEIVED_TEMPLATE", "")
SMS_BOOKING_CHANGED_TEMPLATE = env_str("SMS_BOOKING_CHANGED_TEMPLATE", "")
SMS_BOOKING_CANCELLED_TEMPLATE = env_str("SMS_BOOKING_CANCELLED_TEMPLATE", "")
SMS_BOOKING_REMINDER_TEMPLATE = env_str("SMS_BOOKING_REMINDER_TEMPLATE", "")
ALIYUN_SMS_ACCESS_KEY_ID = env_str("ALIYUN_SMS_ACCESS_KEY_ID", "")
ALIYUN_SMS_ACCESS_KEY_SECRET = env_str("ALIYUN_SMS_ACCESS_KEY_SECRET", "")
ALIYUN_SMS_ENDPOINT = env_str("ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/")
TENCENT_SMS_SECRET_ID = env_str("TENCENT_SMS_SECRET_ID", "")
TENCENT_SMS_SECRET_KEY = env_str("TENCENT_SMS_SECRET_KEY", "")
TENCENT_SMS_SDK_APP_ID = env_str("TENCENT_SMS_SDK_APP_ID", "")
TENCENT_SMS_REGION = env_str("TENCENT_SMS_REGION", "ap-guangzhou")
TENCENT_SMS_ENDPOINT = env_str("TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com/")

# SMS login codes and their limits.
SMS_CODE_TTL_SECONDS = env_int("SMS_CODE_TTL_SECONDS", 300)
SMS_CODE_INTERVAL_SECONDS = env_int("SMS_CODE_INTERVAL_SECONDS", 60)
SMS_CODE_DAILY_LIMIT = env_int("SMS_CODE_DAILY_LIMIT", 10)
SMS_CODE_IP_HOURLY_LIMIT = env_int("SMS_CODE_IP_HOURLY_LIMIT", 30)
SMS_CODE_MAX_ATTEMPTS = env_int("SMS_CODE_MAX_ATTEMPTS", 5)
SMS_CODE_LOCK_SECONDS = env_int("SMS_CODE_LOCK_SECONDS", 900)

# WeChat mini-program login (jscode2session).
WECHAT_MINI_APPID = env_str("WECHAT_MINI_APPID", "wx-sandbox-appid" if SANDBOX else "")
WECHAT_MINI_SECRET = env_str("WECHAT_MINI_SECRET", "sandbox-secret" if SANDBOX else "")
WECHAT_API_BASE = env_str(
    "WECHAT_API_BASE",
    f"{env_str('PUBLIC_BASE_URL', 'http://127.0.0.1:8000')}/sandbox/wechat"
    if SANDBOX
    else "https://api.weixin.qq.com",
)

# API tokens and privacy policy.
API_TOKEN_TTL_HOURS = env_int("API_TOKEN_TTL_HOURS", 24 * 30)
PRIVACY_POLICY_VERSION = env_str("PRIVACY_POLICY_VERSION", "2026-11")

# Binding houses.
MAX_HOUSES_PER_RESIDENT = env_int("MAX_HOUSES_PER_RESIDENT", 10)
BIND_FAILURES_PER_HOUR = env_int("BIND_FAILURES_PER_HOUR", 5)
BIND_HOUSE_FAILURES_PER_HOUR = env_int("BIND_HOUSE_FAILURES_PER_HOUR", 30)

# Public base URL, used in links sent by SMS and printed by `make run`.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# The heating company's name, printed on counter receipts.
HEATDESK_COMPANY_NAME = env_str("HEATDESK_COMPANY_NAME", "HeatDesk 供热公司")

# Payments: WeChat Pay API v3 and Alipay (RSA2). In sandbox mode the base URLs point at the local
# simulators and any key left empty comes from development keys generated once under
# PAYMENTS_DEV_KEYS_DIR; in production every key must be set (PEM text, or NAME_FILE).
PAYMENTS_DEV_KEYS_DIR = VAR_DIR / "sandbox-keys"
PAYMENTS_PROVIDER_TIMEOUT_SECONDS = env_int("PAYMENTS_PROVIDER_TIMEOUT_SECONDS", 10)
WECHATPAY_MCHID = env_str("WECHATPAY_MCHID", "1900000001" if SANDBOX else "")
WECHATPAY_APPID = env_str("WECHATPAY_APPID", WECHAT_MINI_APPID)
WECHATPAY_API_V3_KEY = env_str("WECHATPAY_API_V3_KEY", "")
WECHATPAY_PRIVATE_KEY = env_str("WECHATPAY_PRIVATE_KEY", "")
WECHATPAY_CERT_SERIAL = env_str("WECHATPAY_CERT_SERIAL", "")
WECHATPAY_PLATFORM_PUBLIC_KEY = env_str("WECHATPAY_PLATFORM_PUBLIC_KEY", "")
WECHATPAY_PLATFORM_PUBLIC_KEY_ID = env_str("WECHATPAY_PLATFORM_PUBLIC_KEY_ID", "")
WECHATPAY_PLATFORM_CERTIFICATES = env_str("WECHATPAY_PLATFORM_CERTIFICATES", "")
WECHATPAY_BASE_URL = env_str(
    "WECHATPAY_BASE_URL",
    f"{PUBLIC_BASE_URL}/sandbox/wechatpay" if SANDBOX else "https://api.mch.weixin.qq.com",
)
WECHATPAY_NOTIFY_URL = env_str(
    "WECHATPAY_NOTIFY_URL", f"{PUBLIC_BASE_URL}/payments/notify/wechatpay"
)
ALIPAY_APP_ID = env_str("ALIPAY_APP_ID", "2021000000000001" if SANDBOX else "")
ALIPAY_SELLER_ID = env_str("ALIPAY_SELLER_ID", "2088000000000001" if SANDBOX else "")
ALIPAY_PRIVATE_KEY = env_str("ALIPAY_PRIVATE_KEY", "")
ALIPAY_PUBLIC_KEY = env_str("ALIPAY_PUBLIC_KEY", "")
ALIPAY_GATEWAY = env_str(
    "ALIPAY_GATEWAY",
    f"{PUBLIC_BASE_URL}/sandbox/alipay/gateway.do"
    if SANDBOX
    else "https://openapi.alipay.com/gateway.do",
)
ALIPAY_NOTIFY_URL = env_str("ALIPAY_NOTIFY_URL", f"{PUBLIC_BASE_URL}/payments/notify/alipay")
ALIPAY_RETURN_URL = env_str("ALIPAY_RETURN_URL", f"{PUBLIC_BASE_URL}/m/pay/return")
# An unpaid order is closed (at the provider too) this long after creation.
PAYMENTS_ORDER_EXPIRE_MINUTES = env_int("PAYMENTS_ORDER_EXPIRE_MINUTES", 30)
# A second payment for a bill already settled: "credit" keeps it as the house's prepayment,
# "refund" sends it back through the provider at once.
PAYMENTS_DOUBLE_PAYMENT = env_str("PAYMENTS_DOUBLE_PAYMENT", "credit")
if PAYMENTS_DOUBLE_PAYMENT not in {"credit", "refund"}:
    raise ImproperlyConfigured("PAYMENTS_DOUBLE_PAYMENT must be credit or refund")
# On PostgreSQL a plain confirmed payment (one house, open bills, no credit, no late fee or
# early discount to fix) is settled by one statement, payments_notify_settle; off, every
# notify takes the Python path, as on SQLite. Both write the same rows.
PAYMENTS_SETTLE_IN_DATABASE = env_bool("PAYMENTS_SETTLE_IN_DATABASE", default=True)
# The janitor queries an open order or refund again after each of these delays (seconds); after
# the last one it is left for finance (an alert in the staff view).
PAYMENTS_JANITOR_BACKOFF_SECONDS = [
    int(x)
    for x in env_str("PAYMENTS_JANITOR_BACKOFF_SECONDS", "10,30,120,600,3600,21600").split(",")
]
# Daily reconciliation downloads the provider bills of the previous Beijing day after this hour;
# unmatched rows near midnight are looked for again for this many days before they count.
PAYMENTS_RECONCILE_AFTER_HOUR = env_int("PAYMENTS_RECONCILE_AFTER_HOUR", 10)
PAYMENTS_RECONCILE_CARRY_DAYS = env_int("PAYMENTS_RECONCILE_CARRY_DAYS", 2)
if PRODUCTION and not all(
    url.startswith("https://") and "//127." not in url and "//localhost" not in url
    for url in (WECHATPAY_BASE_URL, ALIPAY_GATEWAY)
):
    raise ImproperlyConfigured("WECHATPAY_BASE_URL and ALIPAY_GATEWAY must be public https URLs")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    problems = []
    if SECRET_KEY == DEV_SECRET or len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY must be set to a long random value")
    if SANDBOX:
        problems.append("HEATDESK_SANDBOX must be off")
    if FIELD_ENCRYPTION_KEYS == _DEV_FIELD_KEYS or _dev_key("blind-index") == BLIND_INDEX_KEY:
        problems.append("FIELD_ENCRYPTION_KEYS and BLIND_INDEX_KEY must be set")
    if SMS_PROVIDER not in {"aliyun", "tencent"}:
        problems.append("SMS_PROVIDER must be aliyun or tencent")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems))
