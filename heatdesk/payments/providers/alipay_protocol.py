"""Alipay OpenAPI (gateway.do, RSA2) on the wire: request, response and notify signatures.

Pure functions shared by our client, the notify parser and the sandbox simulator.

- Requests: every parameter but `sign`, empty values dropped, sorted, `k=v` joined by `&`
  with raw (not URL-encoded) values, SHA256withRSA with the app private key.
- Synchronous answers: `sign` covers the exact text of the `<method>_response` node as sent;
  we cut that text out of the raw answer with a JSON scanner and never re-serialise it.
- Async notifies: every parameter but `sign` and `sign_type`, empty values *kept*, sorted,
  verified with the Alipay public key.
"""

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from heatdesk.payments.providers.amounts import fen_to_yuan_str, yuan_str_to_fen
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import rsa_sha256_sign, rsa_sha256_verify

__all__ = ["fen_to_yuan_str", "yuan_str_to_fen"]

SIGN_TYPE = "RSA2"
BEIJING = dt.timezone(dt.timedelta(hours=8))
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
ERROR_NODE = "error_response"


def timestamp(moment: dt.datetime) -> str:
    """Alipay's `timestamp`: yyyy-MM-dd HH:mm:ss in GMT+8, whatever the server's zone."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire")
    return moment.astimezone(BEIJING).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=BEIJING)
    except (TypeError, ValueError):
        raise VerificationError("the timestamp is not yyyy-MM-dd HH:mm:ss") from None


def response_node_name(method: str) -> str:
    """alipay.trade.query → alipay_trade_query_response."""
    return method.replace(".", "_") + "_response"


# --- requests --------------------------------------------------------------------------------


def request_sign_content(params: Mapping[str, str]) -> str:
    items = sorted((k, v) for k, v in params.items() if k != "sign" and v not in ("", None))
    return "&".join(f"{k}={v}" for k, v in items)


def sign_request(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    return rsa_sha256_sign(private_key, request_sign_content(params).encode("utf-8"))


def verify_request(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    """The gateway's check of an app's request (the simulator's side)."""
    if params.get("sign_type") != SIGN_TYPE:
        raise VerificationError("sign_type must be RSA2")
    signature = params.get("sign") or ""
    if not signature:
        raise VerificationError("the request is not signed")
    rsa_sha256_verify(public_key, request_sign_content(params).encode("utf-8"), signature)


def encode_biz_content(biz: Mapping[str, Any]) -> str:
    return json.dumps(biz, ensure_ascii=False, separators=(",", ":"))


# --- synchronous answers ---------------------------------------------------------------------


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def top_level_members(raw: str) -> dict[str, tuple[str, Any]]:
    """Each top-level member of a JSON object as (its exact source text, its value).

    Scans with the JSON decoder itself, so braces or quotes inside string values cannot move
    the boundaries (brace counting breaks on a subject such as "供暖费 }")."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(raw, 0)
    if not raw.startswith("{", pos):
        raise VerificationError("the answer is not a JSON object")
    pos = _skip_ws(raw, pos + 1)
    members: dict[str, tuple[str, Any]] = {}
    try:
        while pos < len(raw) and raw[pos] != "}":
            key, pos = decoder.raw_decode(raw, pos)
            pos = _skip_ws(raw, pos)
            if not isinstance(key, str) or raw[pos] != ":":
                raise VerificationError("the answer is not a JSON object")
            start = _skip_ws(raw, pos + 1)
            value, end = decoder.raw_decode(raw, start)
            if key in members:
                # Two nodes of the same name: which one was signed? Refuse (a known forgery).
                raise VerificationError(f"the answer repeats {key!r}")
            members[key] = (raw[start:end], value)
            pos = _skip_ws(raw, end)
            if raw[pos] == ",":
                pos = _skip_ws(raw, pos + 1)
        if raw[pos] != "}" or raw[pos + 1 :].strip():
            raise VerificationError("the answer is not a single JSON object")
    except (ValueError, IndexError):
        raise VerificationError("the answer is not valid JSON") from None
    return members


@dataclass(frozen=True)
class SignedAnswer:
    node_name: str  # the method's node, or error_response
    node_text: str  # exactly as sent: what the signature covers
    node: dict[str, Any]
    signed: bool  # a gateway error may come unsigned


def verify_response(raw: str, *, method: str, public_key: rsa.RSAPublicKey) -> SignedAnswer:
    """Find the method's node (or error_response) in the raw answer and verify its signature.

    A method node must be signed. An `error_response` is verified when it carries a signature,
    and otherwise returned marked unsigned: it only ever tells the caller that nothing was done.
    """
    members = top_level_members(raw)
    name = response_node_name(method)
    if name not in members and ERROR_NODE in members:
        name = ERROR_NODE
    if name not in members:
        raise VerificationError(f"the answer has no {response_node_name(method)} node")
    node_text, node = members[name]
    if not isinstance(node, dict):
        raise VerificationError(f"{name} is not an object")
    sign_member = members.get("sign")
    signature = sign_member[1] if sign_member else ""
    if not isinstance(signature, str):
        raise VerificationError("sign is not a string")
    if not signature:
        if name != ERROR_NODE:
            raise VerificationError("the answer is not signed")
        return SignedAnswer(name, node_text, node, signed=False)
    rsa_sha256_verify(public_key, node_text.encode("utf-8"), signature)
    return SignedAnswer(name, node_text, node, signed=True)


def build_response(node_name: str, node: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    """A signed gateway answer as Alipay writes it, "/" escaped as "\\/" (the simulator's side)."""
    node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    signature = rsa_sha256_sign(private_key, node_text.encode("utf-8"))
    return f'{{"{node_name}":{node_text},"sign":"{signature}"}}'


# --- async notifies --------------------------------------------------------------------------


def notify_sign_content(params: Mapping[str, str]) -> str:
    items = sorted((k, v) for k, v in params.items() if k not in ("sign", "sign_type"))
    return "&".join(f"{k}={v}" for k, v in items)


def sign_notify(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    return rsa_sha256_sign(private_key, notify_sign_content(params).encode("utf-8"))


def verify_notify(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    sign_type = params.get("sign_type", SIGN_TYPE)
    if sign_type != SIGN_TYPE:
        raise VerificationError("sign_type must be RSA2")
    signature = params.get("sign") or ""
    if not signature:
        raise VerificationError("the notify is not signed")
    rsa_sha256_verify(public_key, notify_sign_content(params).encode("utf-8"), signature)
