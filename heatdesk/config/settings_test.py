"""Test settings: only test concerns differ from the real settings."""

import os

os.environ.setdefault("HEATDESK_ENV", "test")

from heatdesk.config.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
SANDBOX = True
SMS_PROVIDER = "sandbox"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
