"""A small WeChat Pay API v3 client: orders, refunds and trade bills, over urllib.

Request bodies are built once as bytes (`*_body` functions) so the order layer can persist
them and replay them byte for byte after a timeout (WeChat accepts a re-post of the same
out_trade_no only with identical parameters). Every 2xx answer is verified before it is read;
an answer that fails verification is an unknown outcome, never a success.
"""

import datetime as dt
import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.errors import (
    ProviderOutcomeUnknown,
    ProviderRefused,
    VerificationError,
)
from heatdesk.payments.providers.http import (
    DEFAULT_TIMEOUT_SECONDS,
    HttpAnswer,
    check_base_url,
    exchange,
)

PROVIDER = "wechatpay"
USER_AGENT = "HeatDesk/0.1 (WeChat Pay API v3)"
# Refusals that may pass later with the very same request.
RETRYABLE_CODES = frozenset({"FREQUENCY_LIMITED", "STATEMENT_CREATING"})


@dataclass(frozen=True)
class WechatPayConfig:
    mchid: str
    appid: str
    api_v3_key: str
    private_key: rsa.RSAPrivateKey
    cert_serial: str
    platform: proto.PlatformKeys
    base_url: str
    notify_url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class WechatTransaction:
    """A transaction as query and notify describe it; amounts in fen."""

    mchid: str
    appid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str  # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    total_fen: int
    payer_total_fen: int | None
    success_time: str
    attach: str
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WechatTransaction":
        amount = data.get("amount") or {}
        total = amount.get("total")
        payer_total = amount.get("payer_total")
        if not isinstance(total, int) or isinstance(total, bool):
            raise VerificationError("transaction amount.total is not an integer number of fen")
        if payer_total is not None and not isinstance(payer_total, int):
            raise VerificationError("transaction amount.payer_total is not an integer")
        return cls(
            mchid=str(data.get("mchid", "")),
            appid=str(data.get("appid", "")),
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "")),
            trade_state=str(data.get("trade_state", "")),
            total_fen=total,
            payer_total_fen=payer_total,
            success_time=str(data.get("success_time", "")),
            attach=str(data.get("attach", "")),
            raw=data,
        )


@dataclass(frozen=True)
class WechatRefund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: str  # SUCCESS, CLOSED, PROCESSING, ABNORMAL
    refund_fen: int
    total_fen: int
    success_time: str
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WechatRefund":
        amount = data.get("amount") or {}
        refund, total = amount.get("refund"), amount.get("total")
        if not isinstance(refund, int) or not isinstance(total, int):
            raise VerificationError("refund amounts are not integer numbers of fen")
        status = data.get("status") or data.get("refund_status") or ""
        return cls(
            out_refund_no=str(data.get("out_refund_no", "")),
            refund_id=str(data.get("refund_id", "")),
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "")),
            status=str(status),
            refund_fen=refund,
            total_fen=total,
            success_time=str(data.get("success_time", "")),
            raw=data,
        )


@dataclass(frozen=True)
class TradeBillTicket:
    hash_type: str
    hash_value: str
    download_url: str
    gzipped: bool


class BillHashMismatch(VerificationError):
    """The downloaded bill's SHA-1 is not the one the signed ticket promised."""


# --- request bodies: built once, persisted, replayed byte for byte ---------------------------


def _order_body(
    *,
    config: WechatPayConfig,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    notify_url: str | None,
    time_expire: dt.datetime | None,
    attach: str,
    payer_openid: str | None,
) -> bytes:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 1:
        raise ValueError("amount_fen must be a positive integer")
    body: dict[str, Any] = {
        "appid": config.appid,
        "mchid": config.mchid,
        "description": description,
        "out_trade_no": out_trade_no,
        "notify_url": notify_url or config.notify_url,
        "amount": {"total": amount_fen, "currency": "CNY"},
    }
    if time_expire is not None:
        body["time_expire"] = proto.format_time(time_expire)
    if attach:
        body["attach"] = attach
    if payer_openid is not None:
        body["payer"] = {"openid": payer_openid}
    return proto.encode_json(body)


def jsapi_order_body(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    openid: str,
    notify_url: str | None = None,
    time_expire: dt.datetime | None = None,
    attach: str = "",
) -> bytes:
    """The body of POST /v3/pay/transactions/jsapi (mini-program and JSAPI payments)."""
    return _order_body(
        config=config,
        out_trade_no=out_trade_no,
        description=description,
        amount_fen=amount_fen,
        notify_url=notify_url,
        time_expire=time_expire,
        attach=attach,
        payer_openid=openid,
    )


def native_order_body(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    description: str,
    amount_fen: int,
    notify_url: str | None = None,
    time_expire: dt.datetime | None = None,
    attach: str = "",
) -> bytes:
    """The body of POST /v3/pay/transactions/native (a QR code the payer scans)."""
    return _order_body(
        config=config,
        out_trade_no=out_trade_no,
        description=description,
        amount_fen=amount_fen,
        notify_url=notify_url,
        time_expire=time_expire,
        attach=attach,
        payer_openid=None,
    )


def refund_body(
    config: WechatPayConfig,
    *,
    out_trade_no: str,
    out_refund_no: str,
    refund_fen: int,
    total_fen: int,
    reason: str = "",
    notify_url: str | None = None,
) -> bytes:
    """The body of POST /v3/refund/domestic/refunds; retry with the same out_refund_no."""
    if not (isinstance(refund_fen, int) and isinstance(total_fen, int)) or refund_fen < 1:
        raise ValueError("refund_fen must be a positive integer")
    if refund_fen > total_fen:
        raise ValueError("a refund cannot exceed the order total")
    body: dict[str, Any] = {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "notify_url": notify_url or config.notify_url,
        "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
    }
    if reason:
        body["reason"] = reason
    return proto.encode_json(body)


# --- the client ------------------------------------------------------------------------------


class WechatPayClient:
    def __init__(self, config: WechatPayConfig) -> None:
        self.config = config
        self.base_url = check_base_url(config.base_url)

    # orders

    def create_jsapi_order(self, body: bytes) -> str:
        """Create (or idempotently re-create) a JSAPI order; returns the prepay_id."""
        data = self._call("POST", "/v3/pay/transactions/jsapi", body)
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ProviderOutcomeUnknown("the answer has no prepay_id", provider=PROVIDER)
        return prepay_id

    def create_native_order(self, body: bytes) -> str:
        """Create a Native order; returns the code_url to show as a QR code."""
        data = self._call("POST", "/v3/pay/transactions/native", body)
        code_url = data.get("code_url")
        if not isinstance(code_url, str) or not code_url:
            raise ProviderOutcomeUnknown("the answer has no code_url", provider=PROVIDER)
        return code_url

    def query_order(self, out_trade_no: str) -> WechatTransaction:
        """GET …/out-trade-no/{no}?mchid=; ProviderRefused(ORDER_NOT_EXIST) if it never arrived."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        data = self._call("GET", f"{path}?{urlencode({'mchid': self.config.mchid})}")
        try:
            return WechatTransaction.from_json(data)
        except VerificationError as exc:
            raise ProviderOutcomeUnknown(str(exc), provider=PROVIDER) from exc

    def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (204; re-entrant). A paid order is refused with ORDER_PAID."""
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        self._call("POST", path, proto.encode_json({"mchid": self.config.mchid}))

    def jsapi_pay_params(self, prepay_id: str) -> dict[str, str]:
        """The signed parameters for wx.requestPayment."""
        return proto.jsapi_pay_params(
            appid=self.config.appid, prepay_id=prepay_id, private_key=self.config.private_key
        )

    # refunds

    def create_refund(self, body: bytes) -> WechatRefund:
        data = self._call("POST", "/v3/refund/domestic/refunds", body)
        return self._refund(data)

    def query_refund(self, out_refund_no: str) -> WechatRefund:
        data = self._call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}")
        return self._refund(data)

    def _refund(self, data: dict[str, Any]) -> WechatRefund:
        try:
            return WechatRefund.from_json(data)
        except VerificationError as exc:
            raise ProviderOutcomeUnknown(str(exc), provider=PROVIDER) from exc

    # bills

    def request_trade_bill(self, bill_date: dt.date, *, bill_type: str = "ALL") -> TradeBillTicket:
        query = urlencode(
            {"bill_date": bill_date.isoformat(), "bill_type": bill_type, "tar_type": "GZIP"}
        )
        data = self._call("GET", f"/v3/bill/tradebill?{query}")
        hash_type, hash_value = data.get("hash_type"), data.get("hash_value")
        url = data.get("download_url")
        if hash_type != "SHA1" or not isinstance(hash_value, str) or not isinstance(url, str):
            raise ProviderOutcomeUnknown("the bill ticket is incomplete", provider=PROVIDER)
        return TradeBillTicket(
            hash_type=hash_type, hash_value=hash_value.lower(), download_url=url, gzipped=True
        )

    def download_trade_bill(self, ticket: TradeBillTicket) -> bytes:
        """The bill file, decompressed, after checking its SHA-1 against the signed ticket.

        The download itself is a signed request with an unsigned answer: the hash in the
        (signed) ticket is what makes the file trustworthy."""
        parts = urlsplit(ticket.download_url)
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise ProviderOutcomeUnknown(
                "the bill is offered from a foreign host", provider=PROVIDER
            )
        # The signed URL is relative to the API root (the real root has no path of its own).
        path = parts.path.removeprefix(base.path) if base.path else parts.path
        canonical = path + (f"?{parts.query}" if parts.query else "")
        answer = self._send("GET", canonical, b"", url=ticket.download_url)
        if answer.status != 200:
            self._raise_for(answer)
        content = answer.body
        if ticket.gzipped:
            try:
                content = gzip.decompress(content)
            except (OSError, EOFError, zlib.error) as exc:
                raise BillHashMismatch("the bill is not valid gzip") from exc
        if hashlib.sha1(content).hexdigest() != ticket.hash_value:  # noqa: S324 - WeChat's choice
            raise BillHashMismatch("the bill's SHA-1 does not match the ticket")
        return content

    # plumbing

    def _send(self, method: str, canonical_url: str, body: bytes, *, url: str = "") -> HttpAnswer:
        headers = {
            "Authorization": proto.build_authorization(
                method=method,
                canonical_url=canonical_url,
                body=body,
                mchid=self.config.mchid,
                serial_no=self.config.cert_serial,
                private_key=self.config.private_key,
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if body:
            headers["Content-Type"] = "application/json"
        if self.config.platform.public_key_id:
            headers["Wechatpay-Serial"] = self.config.platform.public_key_id
        return exchange(
            url or self.base_url + canonical_url,
            method=method,
            headers=headers,
            data=body if method != "GET" else None,
            timeout=self.config.timeout,
            provider=PROVIDER,
        )

    def _call(self, method: str, canonical_url: str, body: bytes = b"") -> dict[str, Any]:
        answer = self._send(method, canonical_url, body)
        if not 200 <= answer.status < 300:
            self._raise_for(answer)
        try:
            proto.verify_signed_message(
                headers=answer.headers, body=answer.body, platform=self.config.platform
            )
        except VerificationError as exc:
            raise ProviderOutcomeUnknown(
                f"the answer's signature does not verify ({exc})", provider=PROVIDER
            ) from exc
        if not answer.body:
            return {}
        try:
            data = json.loads(answer.body)
        except ValueError as exc:
            raise ProviderOutcomeUnknown("the answer is not JSON", provider=PROVIDER) from exc
        if not isinstance(data, dict):
            raise ProviderOutcomeUnknown("the answer is not a JSON object", provider=PROVIDER)
        return data

    def _raise_for(self, answer: HttpAnswer) -> None:
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        code = str(data.get("code") or f"HTTP_{answer.status}")
        message = str(data.get("message") or "")[:300]
        if answer.status >= 500 or code == "SYSTEM_ERROR":
            raise ProviderOutcomeUnknown(f"{code}: {message}", provider=PROVIDER)
        raise ProviderRefused(
            message,
            provider=PROVIDER,
            code=code,
            status=answer.status,
            retryable=code in RETRYABLE_CODES or answer.status == 429,
        )
