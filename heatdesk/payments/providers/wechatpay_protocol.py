"""WeChat Pay API v3 on the wire: signatures, verification, AES-256-GCM, paySign.

Pure functions, no I/O and no settings: our client, the notify parser and the sandbox simulator
all use these, the simulator using the inverse of what the client uses (it verifies what we
sign and signs what we verify). Everything is computed over exact bytes, never re-serialised
JSON (signing one serialisation and sending another is a known SIGN_ERROR bug class).
"""

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import (
    certificate_public_key,
    certificate_serial,
    rsa_sha256_sign,
    rsa_sha256_verify,
)

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
# The official utility refuses a Wechatpay-Timestamp 5 minutes or more away from now.
TIMESTAMP_WINDOW_SECONDS = 300
# WeChat Pay sends probe callbacks with a deliberately broken signature carrying this prefix.
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
API_V3_KEY_BYTES = 32
GCM_NONCE_CHARS = 12

_NONCE_ALPHABET = string.ascii_uppercase + string.digits
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


def new_nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def encode_json(data: Mapping[str, Any]) -> bytes:
    """The one serialisation of a request body: compact UTF-8 JSON. Sign these bytes, send them."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 in Beijing time, as WeChat writes and expects it: 2026-01-10T10:34:56+08:00."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire")
    beijing = dt.timezone(dt.timedelta(hours=8))
    return moment.astimezone(beijing).replace(microsecond=0).isoformat()


# --- request signing (merchant → WeChat Pay) -------------------------------------------------


def request_message(
    *, method: str, canonical_url: str, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n: every line ends in \\n, the last one too."""
    head = f"{method.upper()}\n{canonical_url}\n{timestamp}\n{nonce}\n".encode()
    return head + body + b"\n"


def build_authorization(
    *,
    method: str,
    canonical_url: str,
    body: bytes,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header for one request; `canonical_url` is path?query as sent."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or new_nonce()
    message = request_message(
        method=method, canonical_url=canonical_url, timestamp=timestamp, nonce=nonce, body=body
    )
    signature = rsa_sha256_sign(private_key, message)
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


@dataclass(frozen=True)
class Authorization:
    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str


def parse_authorization(header: str) -> Authorization:
    """Split an Authorization header into its fields (the simulator's side)."""
    schema, _, rest = header.strip().partition(" ")
    if schema != SCHEMA:
        raise VerificationError(f"unsupported authorization schema {schema[:40]!r}")
    fields = dict(_AUTH_FIELD.findall(rest))
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
    if missing:
        raise VerificationError(f"authorization lacks {', '.join(sorted(missing))}")
    return Authorization(
        mchid=fields["mchid"],
        nonce_str=fields["nonce_str"],
        signature=fields["signature"],
        timestamp=fields["timestamp"],
        serial_no=fields["serial_no"],
    )


def check_timestamp(timestamp: str, *, now: float | None = None) -> None:
    """Unix seconds (10 digits, no milliseconds) less than five minutes away from now."""
    if not re.fullmatch(r"\d{1,10}", timestamp or ""):
        raise VerificationError("the timestamp is not unix seconds")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) >= TIMESTAMP_WINDOW_SECONDS:
        raise VerificationError("the timestamp is outside the five-minute window")


def verify_request(
    *,
    authorization: str,
    method: str,
    canonical_url: str,
    body: bytes,
    merchant_keys: Mapping[str, rsa.RSAPublicKey],
    now: float | None = None,
) -> Authorization:
    """Check a merchant's request as WeChat Pay does (used by the simulator)."""
    auth = parse_authorization(authorization)
    check_timestamp(auth.timestamp, now=now)
    key = merchant_keys.get(auth.serial_no)
    if key is None:
        raise VerificationError("unknown merchant certificate serial_no")
    message = request_message(
        method=method,
        canonical_url=canonical_url,
        timestamp=auth.timestamp,
        nonce=auth.nonce_str,
        body=body,
    )
    rsa_sha256_verify(key, message, auth.signature)
    return auth


# --- response and callback signatures (WeChat Pay → merchant) -------------------------------


def response_message(*, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def sign_response(
    *,
    body: bytes,
    private_key: rsa.RSAPrivateKey,
    serial: str,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The Wechatpay-* headers of a response or callback (the simulator's side)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or new_nonce()
    signature = rsa_sha256_sign(
        private_key, response_message(timestamp=timestamp, nonce=nonce, body=body)
    )
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SCHEMA,
    }


@dataclass
class PlatformKeys:
    """The keys that may sign WeChat Pay's answers, by the Wechatpay-Serial that selects them.

    Public-key mode: one `PUB_KEY_ID_…` and its key. Certificate mode: platform certificates by
    their hex serial (rotation means several at once). Both may be configured during a switch.
    """

    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        public_key: rsa.RSAPublicKey | None = None,
        public_key_id: str = "",
        certificates: list[x509.Certificate] | None = None,
    ) -> "PlatformKeys":
        keys: dict[str, rsa.RSAPublicKey] = {}
        if public_key is not None:
            if not public_key_id.startswith(PUBLIC_KEY_ID_PREFIX):
                raise ValueError("a platform public key needs its PUB_KEY_ID_… id")
            keys[public_key_id] = public_key
        for cert in certificates or []:
            keys[certificate_serial(cert)] = certificate_public_key(cert)
        if not keys:
            raise ValueError("no WeChat Pay platform public key or certificate configured")
        return cls(keys=keys)

    def for_serial(self, serial: str) -> rsa.RSAPublicKey:
        key = self.keys.get(serial)
        if key is None and serial and not serial.startswith(PUBLIC_KEY_ID_PREFIX):
            # Certificate serials are hex; compare them as numbers, whatever the case/padding.
            try:
                wanted = int(serial, 16)
            except ValueError:
                wanted = -1
            for known, candidate in self.keys.items():
                if not known.startswith(PUBLIC_KEY_ID_PREFIX) and int(known, 16) == wanted:
                    key = candidate
        if key is None:
            raise VerificationError("unknown Wechatpay-Serial")
        return key

    @property
    def public_key_id(self) -> str:
        """The PUB_KEY_ID_… we send as Wechatpay-Serial in public-key mode, if configured."""
        return next((k for k in self.keys if k.startswith(PUBLIC_KEY_ID_PREFIX)), "")


class Headers:
    """Case-insensitive access to HTTP headers, Django's META style (HTTP_WECHATPAY_…) too."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._values: dict[str, str] = {}
        for name, value in raw.items():
            key = str(name).lower()
            if key.startswith("http_"):
                key = key[5:].replace("_", "-")
            self._values[key] = str(value)

    def get(self, name: str) -> str:
        return self._values.get(name.lower(), "")


def verify_signed_message(
    *,
    headers: Mapping[str, Any],
    body: bytes,
    platform: PlatformKeys,
    now: float | None = None,
) -> str:
    """Verify a response's or callback's Wechatpay-* headers over the raw body.

    Checks, in order: the signature type, a SIGNTEST probe, the five-minute window, that the
    serial is one of ours, and the signature itself. Returns the serial that verified.
    """
    h = Headers(headers)
    signature_type = h.get("Wechatpay-Signature-Type")
    if signature_type != SCHEMA:
        raise VerificationError("missing or unsupported Wechatpay-Signature-Type")
    signature = h.get("Wechatpay-Signature")
    if not signature:
        raise VerificationError("missing Wechatpay-Signature")
    if signature.startswith(SIGNTEST_PREFIX):
        raise VerificationError("a WECHATPAY/SIGNTEST/ probe: answer it with an error")
    timestamp = h.get("Wechatpay-Timestamp")
    check_timestamp(timestamp, now=now)
    nonce = h.get("Wechatpay-Nonce")
    if not nonce:
        raise VerificationError("missing Wechatpay-Nonce")
    serial = h.get("Wechatpay-Serial")
    key = platform.for_serial(serial)
    rsa_sha256_verify(key, response_message(timestamp=timestamp, nonce=nonce, body=body), signature)
    return serial


# --- AES-256-GCM resources (notify bodies, platform certificates) ---------------------------


def _api_v3_key(api_v3_key: str) -> AESGCM:
    raw = api_v3_key.encode("utf-8")
    if len(raw) != API_V3_KEY_BYTES:
        raise ValueError("the APIv3 key must be 32 bytes")
    return AESGCM(raw)


def decrypt_resource(
    *, api_v3_key: str, nonce: str, ciphertext: str, associated_data: str
) -> bytes:
    """Decrypt a `resource` (AEAD_AES_256_GCM): base64(ciphertext ‖ tag), nonce and AAD as
    UTF-8. A wrong key or any tampering fails the tag check."""
    try:
        data = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the resource ciphertext is not base64") from None
    try:
        return _api_v3_key(api_v3_key).decrypt(
            nonce.encode("utf-8"), data, associated_data.encode("utf-8")
        )
    except (InvalidTag, ValueError):
        raise VerificationError(
            "the resource does not decrypt (wrong APIv3 key or tampered)"
        ) from None


def encrypt_resource(
    *, api_v3_key: str, plaintext: bytes, associated_data: str, nonce: str | None = None
) -> dict[str, str]:
    """The `resource` object WeChat Pay sends (the simulator's side)."""
    nonce = nonce or new_nonce(GCM_NONCE_CHARS)
    sealed = _api_v3_key(api_v3_key).encrypt(
        nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8")
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


# --- wx.requestPayment ----------------------------------------------------------------------


def pay_sign_message(*, appid: str, timestamp: str, nonce: str, package: str) -> bytes:
    """appId\\ntimeStamp\\nnonceStr\\npackage\\n, package including its "prepay_id=" prefix."""
    return f"{appid}\n{timestamp}\n{nonce}\n{package}\n".encode()


def jsapi_pay_params(
    *,
    appid: str,
    prepay_id: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """What the mini-program passes to wx.requestPayment, signed with the merchant key."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or new_nonce()
    package = f"prepay_id={prepay_id}"
    pay_sign = rsa_sha256_sign(
        private_key,
        pay_sign_message(appid=appid, timestamp=timestamp, nonce=nonce, package=package),
    )
    return {
        "appId": appid,
        "timeStamp": timestamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": pay_sign,
    }
