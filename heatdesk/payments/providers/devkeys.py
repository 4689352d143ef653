"""Development keys for sandbox mode, generated once and kept under HEATDESK_VAR_DIR.

In sandbox mode `make run` must work with no configuration, so both sides of every payment
protocol need keys: ours (the WeChat Pay merchant key, the Alipay app key) and the simulated
providers' (the WeChat Pay platform key and certificate, the Alipay gateway key). They are
generated on first use into one directory and reused afterwards, by every process: two
processes racing to create a key keep whichever file landed first. Never used in production.
"""

import datetime as dt
import hashlib
import os
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from heatdesk.payments.providers.keys import load_certificate, load_private_key, private_key_pem

_lock = threading.Lock()
_cache: dict[Path, "DevKeys"] = {}


@dataclass(frozen=True)
class DevKeys:
    wechatpay_merchant_key: rsa.RSAPrivateKey
    wechatpay_merchant_serial: str
    wechatpay_platform_key: rsa.RSAPrivateKey
    wechatpay_platform_public_key_id: str
    wechatpay_platform_cert: x509.Certificate
    wechatpay_api_v3_key: str
    alipay_app_key: rsa.RSAPrivateKey
    alipay_gateway_key: rsa.RSAPrivateKey


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def self_signed_certificate(key: rsa.RSAPrivateKey, *, common_name: str) -> x509.Certificate:
    """A platform certificate stand-in: self-signed, valid from yesterday for five years."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HeatDesk Sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=5 * 365))
        .sign(key, hashes.SHA256())
    )


def key_fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, *, length: int = 40) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest().upper()[:length]


def _create_once(path: Path, make: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text(encoding="ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(make(), encoding="ascii")
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # atomic; fails if another process got there first
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="ascii")


def _key_file(directory: Path, name: str) -> rsa.RSAPrivateKey:
    return load_private_key(
        _create_once(directory / f"{name}.pem", lambda: private_key_pem(new_rsa_key()))
    )


def dev_keys(directory: Path) -> DevKeys:
    """The sandbox's keys in `directory`, generated on first use."""
    directory = Path(directory)
    with _lock:
        if directory in _cache:
            return _cache[directory]
        directory.mkdir(parents=True, exist_ok=True)
        merchant = _key_file(directory, "wechatpay-merchant")
        platform = _key_file(directory, "wechatpay-platform")
        cert_pem = _create_once(
            directory / "wechatpay-platform-cert.pem",
            lambda: (
                self_signed_certificate(platform, common_name="Tenpay.com Root CA (sandbox)")
                .public_bytes(serialization.Encoding.PEM)
                .decode("ascii")
            ),
        )
        alphabet = string.ascii_letters + string.digits
        api_v3_key = _create_once(
            directory / "wechatpay-apiv3.key",
            lambda: "".join(secrets.choice(alphabet) for _ in range(32)),
        ).strip()
        keys = DevKeys(
            wechatpay_merchant_key=merchant,
            wechatpay_merchant_serial=key_fingerprint(merchant),
            wechatpay_platform_key=platform,
            wechatpay_platform_public_key_id="PUB_KEY_ID_" + key_fingerprint(platform, length=32),
            wechatpay_platform_cert=load_certificate(cert_pem),
            wechatpay_api_v3_key=api_v3_key,
            alipay_app_key=_key_file(directory, "alipay-app"),
            alipay_gateway_key=_key_file(directory, "alipay-gateway"),
        )
        _cache[directory] = keys
        return keys
