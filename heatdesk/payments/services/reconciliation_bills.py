"""Fetching a provider's bill for one Beijing day and reading it into neutral rows in fen.

WeChat Pay: ask for the trade bill ticket, download the file, check its SHA-1 against the
signed ticket (the client does it), parse, check the summary against the rows. Alipay: ask for
the download URL (alive for 30 seconds), download the ZIP at once (a fresh URL if that one
expired), parse the GBK CSV, check the 交易合计/退款合计 lines against the rows.

Outcomes other than a bill are two exceptions: `BillNotReady` (not generated yet, no trades,
a download that failed: try again later) and `BillRejected` (the file cannot be trusted: a
hash or summary that does not add up; no row of it may be used).
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from heatdesk.payments.providers.alipay_bill import parse_bill_zip
from heatdesk.payments.providers.alipay_client import AlipayClient
from heatdesk.payments.providers.errors import ProviderError, ProviderRefused
from heatdesk.payments.providers.wechatpay_bill import (
    BillFormatError,
    check_summary,
    parse_trade_bill,
)
from heatdesk.payments.providers.wechatpay_client import BillHashMismatch, WechatPayClient

PAYMENT = "payment"
REFUND = "refund"
# Provider codes that mean "no bill for that day (yet)".
WECHAT_NOT_READY = frozenset({"STATEMENT_CREATING", "NO_STATEMENT_EXIST"})
WECHAT_NO_TRADES = "NO_STATEMENT_EXIST"
ALIPAY_NO_BILL = frozenset({"isp.bill_not_exist", "BILL_NOT_EXIST", "isp.BILL_NOT_EXIST"})
# How many fresh Alipay download URLs one fetch may ask for when the previous one expired.
ALIPAY_URL_ATTEMPTS = 2


class BillNotReady(Exception):
    """No bill to reconcile now; the same request may succeed later. `no_trades` is true when
    the provider says the day had no trades at all (as opposed to "not generated yet")."""

    def __init__(self, message: str, *, no_trades: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.no_trades = no_trades


class BillRejected(Exception):
    """The bill was downloaded but must not be used (hash, format or summary failure)."""

    def __init__(self, message: str, *, file_hash: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.file_hash = file_hash


@dataclass(frozen=True)
class ChannelRow:
    """One detail row of a provider bill: a payment (`fen` settled) or a refund (`fen` given
    back, always positive here), with the provider's status word for it."""

    kind: str  # PAYMENT or REFUND
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    fen: int
    status: str
    at: str  # the provider's local time text, as written in the bill


@dataclass(frozen=True)
class ChannelBill:
    rows: list[ChannelRow]
    file_hash: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


def wechatpay_bill_fetch(*, client: WechatPayClient, day: dt.date) -> ChannelBill:
    try:
        ticket = client.request_trade_bill(day, bill_type="ALL")
    except ProviderRefused as exc:
        if exc.code in WECHAT_NOT_READY or exc.retryable:
            raise BillNotReady(
                f"{exc.code}: {exc.provider_message}", no_trades=exc.code == WECHAT_NO_TRADES
            ) from exc
        raise BillNotReady(f"{exc.code}: {exc.provider_message}") from exc
    except ProviderError as exc:
        raise BillNotReady(exc.message) from exc
    try:
        content = client.download_trade_bill(ticket)
    except BillHashMismatch as exc:
        raise BillRejected(f"SHA-1 校验失败：{exc}", file_hash=ticket.hash_value) from exc
    except ProviderError as exc:
        raise BillNotReady(f"下载失败：{exc.message}") from exc
    try:
        bill = parse_trade_bill(content)
        check_summary(bill)
    except BillFormatError as exc:
        raise BillRejected(f"账单格式或汇总不符：{exc}", file_hash=ticket.hash_value) from exc
    rows = []
    for row in bill.rows:
        if row.trade_state == "REFUND":
            rows.append(
                ChannelRow(
                    kind=REFUND,
                    out_trade_no=row.out_trade_no,
                    transaction_id=row.transaction_id,
                    out_refund_no=row.out_refund_no,
                    fen=row.refund_fen,
                    status=row.refund_status,
                    at=row.trade_time,
                )
            )
        else:
            rows.append(
                ChannelRow(
                    kind=PAYMENT,
                    out_trade_no=row.out_trade_no,
                    transaction_id=row.transaction_id,
                    out_refund_no="",
                    fen=row.settlement_fen,
                    status=row.trade_state,
                    at=row.trade_time,
                )
            )
    summary = {
        "count": bill.summary.count,
        "paid_fen": bill.summary.settlement_total_fen,
        "refund_fen": bill.summary.refund_total_fen,
    }
    return ChannelBill(rows=rows, file_hash=ticket.hash_value, summary=summary)


def alipay_bill_fetch(*, client: AlipayClient, day: dt.date) -> ChannelBill:
    content = b""
    for attempt in range(ALIPAY_URL_ATTEMPTS):
        try:
            url = client.bill_download_url(bill_date=day)
        except ProviderRefused as exc:
            no_bill = exc.code in ALIPAY_NO_BILL
            raise BillNotReady(f"{exc.code}: {exc.provider_message}", no_trades=no_bill) from exc
        except ProviderError as exc:
            raise BillNotReady(exc.message) from exc
        try:
            content = client.download_bill(url)
            break
        except ProviderError as exc:
            # The URL lives 30 seconds: a slow first try asks for a fresh one.
            if attempt + 1 == ALIPAY_URL_ATTEMPTS:
                raise BillNotReady(f"下载链接失效或下载失败：{exc.message}") from exc
    try:
        bill = parse_bill_zip(content)
    except BillFormatError as exc:
        raise BillRejected(f"账单格式错误：{exc}") from exc
    rows = []
    for row in bill.rows:
        if row.kind == "退款":
            rows.append(
                ChannelRow(
                    kind=REFUND,
                    out_trade_no=row.out_trade_no,
                    transaction_id=row.trade_no,
                    out_refund_no=row.out_request_no,
                    fen=-row.received_fen,
                    status="SUCCESS",
                    at=row.finished_at,
                )
            )
        else:
            rows.append(
                ChannelRow(
                    kind=PAYMENT,
                    out_trade_no=row.out_trade_no,
                    transaction_id=row.trade_no,
                    out_refund_no="",
                    fen=row.received_fen,
                    status="SUCCESS",
                    at=row.finished_at,
                )
            )
    payments = [r for r in rows if r.kind == PAYMENT]
    refunds = [r for r in rows if r.kind == REFUND]
    problems = []
    if bill.trade_count is None or bill.refund_count is None:
        problems.append("缺少交易合计/退款合计行")
    else:
        if bill.trade_count != len(payments):
            problems.append(f"交易合计 {bill.trade_count} 笔 ≠ {len(payments)} 行")
        if bill.trade_received_fen != sum(r.fen for r in payments):
            problems.append(
                f"交易合计 {bill.trade_received_fen} 分 ≠ {sum(r.fen for r in payments)} 分"
            )
        if bill.refund_count != len(refunds):
            problems.append(f"退款合计 {bill.refund_count} 笔 ≠ {len(refunds)} 行")
        if bill.refund_received_fen is not None and -bill.refund_received_fen != sum(
            r.fen for r in refunds
        ):
            problems.append(
                f"退款合计 {bill.refund_received_fen} 分 ≠ -{sum(r.fen for r in refunds)} 分"
            )
    if problems:
        raise BillRejected("账单汇总与明细不符：" + "；".join(problems))
    summary = {
        "count": len(rows),
        "paid_fen": bill.trade_received_fen,
        "refund_fen": -(bill.refund_received_fen or 0),
    }
    return ChannelBill(rows=rows, summary=summary)
