"""Loading RSA keys and certificates as the providers hand them out.

WeChat Pay gives PEM files (apiclient_key.pem, pub_key.pem, platform certificates); Alipay's
portal shows keys as bare base64 without PEM armour. Both forms are accepted, and only RSA keys
are: every signature in these protocols is SHA256withRSA.

Keys are parsed once per distinct text and kept (they are immutable and safe to share between
threads): the provider settings are read on every notify, and loading an RSA private key checks
it, which costs tens of milliseconds — more than the rest of a notify.
"""

import base64
import binascii
import functools
import textwrap

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from heatdesk.payments.providers.errors import VerificationError


def _armour(text: str, kind: str) -> bytes:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii")
    body = "\n".join(textwrap.wrap("".join(text.split()), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode("ascii")


@functools.lru_cache(maxsize=32)
def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#8 or PKCS#1) or bare base64 PKCS#8."""
    if not text or not text.strip():
        raise ValueError("no private key configured")
    try:
        key = serialization.load_pem_private_key(_armour(text, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError):
        try:
            key = serialization.load_der_private_key(base64.b64decode(text), password=None)
        except (ValueError, TypeError, binascii.Error):
            raise ValueError("the private key is not a readable RSA key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key must be an RSA key")
    return key


@functools.lru_cache(maxsize=32)
def load_public_key(text: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM, bare base64 SubjectPublicKeyInfo, or a PEM certificate."""
    if not text or not text.strip():
        raise ValueError("no public key configured")
    if "BEGIN CERTIFICATE" in text:
        return certificate_public_key(load_certificate(text))
    try:
        key = serialization.load_pem_public_key(_armour(text, "PUBLIC KEY"))
    except (ValueError, TypeError):
        raise ValueError("the public key is not a readable RSA key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key must be an RSA key")
    return key


def load_certificate(text: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(text.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("the certificate is not a readable PEM certificate") from None


def load_certificates(bundle: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (several concatenated PEM blocks)."""
    if not bundle.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(bundle.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("the certificate bundle is not readable PEM") from None


def certificate_public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate must carry an RSA key")
    return key


def certificate_serial(cert: x509.Certificate) -> str:
    """The serial number as WeChat Pay writes it: upper-case hex without leading zeros."""
    return f"{cert.serial_number:X}"


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_base64(key: rsa.RSAPublicKey) -> str:
    """The bare base64 form Alipay's portal shows."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def rsa_sha256_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64: the signature both providers use."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa_sha256_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> None:
    """Raise VerificationError unless `signature` (base64) signs `message` under `key`."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the signature is not base64") from None
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise VerificationError("the signature does not verify") from None
