"""Encryption of personal data at rest (AES-256-GCM with key ids) and blind indexes.

Ciphertext format: ``v1:<kid>:<base64(nonce ‖ ciphertext ‖ tag)>``. The first configured key
encrypts; every configured key decrypts, so keys rotate by putting a new one first and running
``heatdesk rekey``. A blind index is HMAC-SHA256 of the normalised value under its own key: equal
values give equal hashes, so a phone number can be found without decrypting any row.
"""

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class DecryptionError(Exception):
    pass


@dataclass(frozen=True)
class Keyring:
    active_kid: str
    keys: dict[str, bytes]


def parse_keyring(spec: str) -> Keyring:
    """Parse ``kid:base64key[,kid:base64key…]``; each key must be 32 bytes."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not kid or ":" in kid:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS items look like kid:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ImproperlyConfigured(f"encryption key {kid!r} is not valid base64") from None
        if len(key) != 32:
            raise ImproperlyConfigured(f"encryption key {kid!r} must be 32 bytes (AES-256)")
        if kid in keys:
            raise ImproperlyConfigured(f"encryption key id {kid!r} appears twice")
        keys[kid] = key
        order.append(kid)
    if not order:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds no key")
    return Keyring(active_kid=order[0], keys=keys)


@lru_cache(maxsize=4)
def _keyring(spec: str) -> Keyring:
    return parse_keyring(spec)


def keyring() -> Keyring:
    return _keyring(settings.FIELD_ENCRYPTION_KEYS)


def encrypt(plaintext: str, *, context: str = "") -> str:
    """Encrypt under the active key; `context` (e.g. the column) is bound as associated data."""
    ring = keyring()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.active_kid]).encrypt(
        nonce, plaintext.encode("utf-8"), context.encode("utf-8")
    )
    return f"{PREFIX}:{ring.active_kid}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def decrypt(token: str, *, context: str = "") -> str:
    parts = token.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("not a HeatDesk ciphertext")
    _, kid, encoded = parts
    key = keyring().keys.get(kid)
    if key is None:
        raise DecryptionError(f"no key with id {kid!r} is configured")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise DecryptionError("ciphertext is not valid base64") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionError("ciphertext is too short")
    try:
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode("utf-8"))
    except InvalidTag:
        raise DecryptionError("ciphertext was tampered with or the key is wrong") from None
    return plain.decode("utf-8")


def key_id_of(token: str) -> str:
    return token.split(":", 2)[1]


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed hash of a normalised value; `purpose` separates e.g. phone from name indexes."""
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(_blind_key(settings.BLIND_INDEX_KEY), message, hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _blind_key(spec: str) -> bytes:
    try:
        key = base64.b64decode(spec, validate=True)
    except binascii.Error:
        raise ImproperlyConfigured("BLIND_INDEX_KEY must be base64") from None
    if len(key) < 32:
        raise ImproperlyConfigured("BLIND_INDEX_KEY must hold at least 32 bytes")
    return key
