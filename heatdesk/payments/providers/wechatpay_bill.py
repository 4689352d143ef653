"""WeChat Pay trade bills (交易账单): parse the backtick CSV into rows in fen.

Columns are read by header name, never by position (WeChat warns that the order may change);
every field carries a leading backtick against spreadsheet mangling; amounts are yuan strings.
The file ends with a summary header and one summary row, checked against the detail rows.
"""

import csv
import io
from dataclasses import dataclass

from heatdesk.payments.providers.amounts import yuan_str_to_fen

SUMMARY_FIRST_COLUMN = "总交易单数"


class BillFormatError(ValueError):
    """The bill cannot be read, or its summary disagrees with its rows."""


@dataclass(frozen=True)
class WechatBillRow:
    trade_time: str
    appid: str
    mchid: str
    transaction_id: str
    out_trade_no: str
    trade_type: str
    trade_state: str  # SUCCESS for a payment row, REFUND for a refund row, …
    settlement_fen: int  # 应结订单金额 (0 on refund rows)
    refund_fen: int  # 退款金额 (0 on payment rows)
    refund_id: str
    out_refund_no: str
    refund_status: str
    order_fen: int  # 订单金额
    fee: str  # 手续费, five decimals, negative on refund rows: kept as written
    attach: str
    raw: dict[str, str]


@dataclass(frozen=True)
class WechatBillSummary:
    count: int
    settlement_total_fen: int
    refund_total_fen: int
    order_total_fen: int


@dataclass(frozen=True)
class WechatBill:
    rows: list[WechatBillRow]
    summary: WechatBillSummary


def _clean(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("`") else value


def _fen(row: dict[str, str], column: str, *, line: int) -> int:
    text = row.get(column, "")
    if text == "":
        return 0
    try:
        return yuan_str_to_fen(text, allow_negative=True)
    except ValueError as exc:
        raise BillFormatError(f"line {line}: {column}: {exc}") from None


def parse_trade_bill(content: bytes) -> WechatBill:
    """Parse a downloaded (already decompressed, hash-checked) ALL or SUCCESS trade bill."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BillFormatError("the bill is not UTF-8") from None
    lines = [line for line in csv.reader(io.StringIO(text)) if any(f.strip() for f in line)]
    if len(lines) < 3:
        raise BillFormatError("the bill has no summary")
    header = [_clean(h).lstrip("\ufeff") for h in lines[0]]
    split = next(
        (i for i, line in enumerate(lines) if _clean(line[0]) == SUMMARY_FIRST_COLUMN), None
    )
    if split is None or split + 1 >= len(lines):
        raise BillFormatError("the bill has no summary")
    rows: list[WechatBillRow] = []
    for number, fields in enumerate(lines[1:split], start=2):
        if len(fields) != len(header):
            raise BillFormatError(f"line {number}: {len(fields)} fields, header has {len(header)}")
        row = dict(zip(header, (_clean(f) for f in fields), strict=True))
        rows.append(
            WechatBillRow(
                trade_time=row.get("交易时间", ""),
                appid=row.get("公众账号ID", ""),
                mchid=row.get("商户号", ""),
                transaction_id=row.get("微信订单号", ""),
                out_trade_no=row.get("商户订单号", ""),
                trade_type=row.get("交易类型", ""),
                trade_state=row.get("交易状态", ""),
                settlement_fen=_fen(row, "应结订单金额", line=number),
                refund_fen=_fen(row, "退款金额", line=number),
                refund_id=row.get("微信退款单号", ""),
                out_refund_no=row.get("商户退款单号", ""),
                refund_status=row.get("退款状态", ""),
                order_fen=_fen(row, "订单金额", line=number),
                fee=row.get("手续费", ""),
                attach=row.get("商户数据包", ""),
                raw=row,
            )
        )
    summary_header = [_clean(h) for h in lines[split]]
    summary_row = dict(zip(summary_header, (_clean(f) for f in lines[split + 1]), strict=False))
    line = split + 2
    try:
        count = int(summary_row.get("总交易单数", ""))
    except ValueError:
        raise BillFormatError("the summary count is not a number") from None
    summary = WechatBillSummary(
        count=count,
        settlement_total_fen=_fen(summary_row, "应结订单总金额", line=line),
        refund_total_fen=_fen(summary_row, "退款总金额", line=line),
        order_total_fen=_fen(summary_row, "订单总金额", line=line),
    )
    return WechatBill(rows=rows, summary=summary)


def check_summary(bill: WechatBill) -> None:
    """The summary line must equal the sum of the detail rows; raise BillFormatError if not."""
    rows, summary = bill.rows, bill.summary
    problems = []
    if summary.count != len(rows):
        problems.append(f"count {summary.count} ≠ {len(rows)} rows")
    settlement = sum(r.settlement_fen for r in rows)
    if summary.settlement_total_fen != settlement:
        problems.append(f"应结订单总金额 {summary.settlement_total_fen} ≠ {settlement} fen")
    refunds = sum(r.refund_fen for r in rows)
    if summary.refund_total_fen != refunds:
        problems.append(f"退款总金额 {summary.refund_total_fen} ≠ {refunds} fen")
    if problems:
        raise BillFormatError("; ".join(problems))
