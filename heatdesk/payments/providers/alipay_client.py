"""A small Alipay OpenAPI client (gateway.do, RSA2): pay, query, close, refund, bills.

Transport as Alipay's official SDK does it: a POST whose query string holds the common
parameters and `sign`, and whose form body holds `biz_content`. Every answer is verified on the
raw node text before it is read. Amounts cross this boundary in fen; yuan exists only inside.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from heatdesk.core import clock
from heatdesk.payments.providers import alipay_protocol as proto
from heatdesk.payments.providers.amounts import fen_to_yuan_str, yuan_str_to_fen
from heatdesk.payments.providers.errors import (
    ProviderOutcomeUnknown,
    ProviderRefused,
    VerificationError,
)
from heatdesk.payments.providers.http import DEFAULT_TIMEOUT_SECONDS, check_base_url, exchange

PROVIDER = "alipay"
CODE_SUCCESS = "10000"
CODE_UNKNOWN = "20000"  # service unavailable: the outcome is unknown, query
RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"})


@dataclass(frozen=True)
class AlipayConfig:
    app_id: str
    private_key: rsa.RSAPrivateKey
    alipay_public_key: rsa.RSAPublicKey
    gateway: str
    notify_url: str
    seller_id: str = ""
    timeout: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class AlipayTrade:
    out_trade_no: str
    trade_no: str
    trade_status: str  # WAIT_BUYER_PAY, TRADE_CLOSED, TRADE_SUCCESS, TRADE_FINISHED
    total_fen: int
    send_pay_date: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class AlipayRefund:
    out_trade_no: str
    trade_no: str
    fund_change: bool  # money moved in *this* call; N on a retry is not a failure
    refund_fee_fen: int  # cumulative refunded on the trade
    raw: dict[str, Any]


@dataclass(frozen=True)
class AlipayRefundQuery:
    out_request_no: str
    refund_status: str  # REFUND_SUCCESS, or empty while it is not (yet) done
    refund_amount_fen: int | None
    raw: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.refund_status == "REFUND_SUCCESS"


def _fen(node: dict[str, Any], name: str) -> int:
    try:
        return yuan_str_to_fen(node.get(name))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ProviderOutcomeUnknown(f"{name} is not an amount: {exc}", provider=PROVIDER) from exc


class AlipayClient:
    def __init__(self, config: AlipayConfig) -> None:
        self.config = config
        self.gateway = check_base_url(config.gateway)

    def _common(self, method: str, **extra: str) -> dict[str, str]:
        params = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": proto.SIGN_TYPE,
            "timestamp": proto.timestamp(clock.now()),
            "version": "1.0",
        }
        params.update({k: v for k, v in extra.items() if v})
        return params

    def _signed(self, params: dict[str, str]) -> dict[str, str]:
        return {**params, "sign": proto.sign_request(params, self.config.private_key)}

    # payer-facing: the server only signs, the payer's browser goes to the gateway

    def wap_pay_url(
        self,
        *,
        out_trade_no: str,
        subject: str,
        amount_fen: int,
        return_url: str = "",
        time_expire: dt.datetime | None = None,
    ) -> str:
        """alipay.trade.wap.pay: the URL to send the payer's mobile browser to."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan_str(amount_fen),
            "subject": subject,
            "product_code": "QUICK_WAP_WAY",
        }
        if time_expire is not None:
            biz["time_expire"] = proto.timestamp(time_expire)
        params = self._common(
            "alipay.trade.wap.pay",
            notify_url=self.config.notify_url,
            return_url=return_url,
            biz_content=proto.encode_biz_content(biz),
        )
        return f"{self.gateway}?{urlencode(self._signed(params))}"

    # server-to-server

    def precreate(
        self,
        *,
        out_trade_no: str,
        subject: str,
        amount_fen: int,
        time_expire: dt.datetime | None = None,
    ) -> str:
        """alipay.trade.precreate: the qr_code a payer scans."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan_str(amount_fen),
            "subject": subject,
        }
        if time_expire is not None:
            biz["time_expire"] = proto.timestamp(time_expire)
        node = self._call("alipay.trade.precreate", biz, notify_url=self.config.notify_url)
        qr_code = node.get("qr_code")
        if not isinstance(qr_code, str) or not qr_code:
            raise ProviderOutcomeUnknown("the answer has no qr_code", provider=PROVIDER)
        return qr_code

    def query(self, *, out_trade_no: str) -> AlipayTrade:
        """alipay.trade.query; ProviderRefused(ACQ.TRADE_NOT_EXIST) for a trade never scanned."""
        node = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        return AlipayTrade(
            out_trade_no=str(node.get("out_trade_no", "")),
            trade_no=str(node.get("trade_no", "")),
            trade_status=str(node.get("trade_status", "")),
            total_fen=_fen(node, "total_amount"),
            send_pay_date=str(node.get("send_pay_date", "")),
            raw=node,
        )

    def close(self, *, out_trade_no: str) -> None:
        """alipay.trade.close; a paid trade is refused with ACQ.TRADE_STATUS_ERROR."""
        self._call("alipay.trade.close", {"out_trade_no": out_trade_no})

    def refund(
        self, *, out_trade_no: str, out_request_no: str, refund_fen: int, reason: str = ""
    ) -> AlipayRefund:
        """alipay.trade.refund, idempotent on out_request_no: retry with the same amount."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "out_request_no": out_request_no,
            "refund_amount": fen_to_yuan_str(refund_fen),
        }
        if reason:
            biz["refund_reason"] = reason
        node = self._call("alipay.trade.refund", biz)
        return AlipayRefund(
            out_trade_no=str(node.get("out_trade_no", "")),
            trade_no=str(node.get("trade_no", "")),
            fund_change=node.get("fund_change") == "Y",
            refund_fee_fen=_fen(node, "refund_fee"),
            raw=node,
        )

    def refund_query(self, *, out_trade_no: str, out_request_no: str) -> AlipayRefundQuery:
        """alipay.trade.fastpay.refund.query: success only when refund_status=REFUND_SUCCESS."""
        node = self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": out_trade_no, "out_request_no": out_request_no},
        )
        amount = _fen(node, "refund_amount") if node.get("refund_amount") else None
        return AlipayRefundQuery(
            out_request_no=str(node.get("out_request_no", out_request_no)),
            refund_status=str(node.get("refund_status", "")),
            refund_amount_fen=amount,
            raw=node,
        )

    def bill_download_url(self, *, bill_date: dt.date, bill_type: str = "trade") -> str:
        """alipay.data.dataservice.bill.downloadurl.query: a URL valid for 30 seconds."""
        node = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": bill_type, "bill_date": bill_date.isoformat()},
        )
        url = node.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise ProviderOutcomeUnknown("the answer has no bill_download_url", provider=PROVIDER)
        return url

    def download_bill(self, url: str) -> bytes:
        """The bill ZIP itself (an unsigned download; parse it with alipay_bill)."""
        answer = exchange(
            url, method="GET", headers={}, data=None, timeout=self.config.timeout, provider=PROVIDER
        )
        if answer.status != 200:
            raise ProviderRefused(
                "the bill download failed",
                provider=PROVIDER,
                code=f"HTTP_{answer.status}",
                status=answer.status,
                retryable=True,
            )
        return answer.body

    # plumbing

    def _call(self, method: str, biz: dict[str, Any], **extra: str) -> dict[str, Any]:
        params = self._common(method, **extra)
        biz_content = proto.encode_biz_content(biz)
        signed = self._signed({**params, "biz_content": biz_content})
        query = {k: v for k, v in signed.items() if k != "biz_content"}
        answer = exchange(
            f"{self.gateway}?{urlencode(query)}",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            data=urlencode({"biz_content": biz_content}).encode("ascii"),
            timeout=self.config.timeout,
            provider=PROVIDER,
        )
        if answer.status != 200:
            raise ProviderOutcomeUnknown(f"HTTP {answer.status}", provider=PROVIDER)
        try:
            signed_answer = proto.verify_response(
                answer.body.decode("utf-8"), method=method, public_key=self.config.alipay_public_key
            )
        except (VerificationError, UnicodeDecodeError) as exc:
            raise ProviderOutcomeUnknown(
                f"the answer does not verify ({exc})", provider=PROVIDER
            ) from exc
        node = signed_answer.node
        code = str(node.get("code", ""))
        if code == CODE_SUCCESS and signed_answer.signed:
            return node
        sub_code = str(node.get("sub_code") or code or "UNKNOWN")
        message = str(node.get("sub_msg") or node.get("msg") or "")[:300]
        if code == CODE_UNKNOWN or sub_code in RETRYABLE_SUB_CODES:
            raise ProviderOutcomeUnknown(f"{sub_code}: {message}", provider=PROVIDER)
        status = int(code) if code.isdigit() else 0
        raise ProviderRefused(message, provider=PROVIDER, code=sub_code, status=status)
