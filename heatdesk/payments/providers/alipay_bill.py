"""Alipay business bills (业务明细): a ZIP of GBK CSVs, parsed into rows in fen.

Lines starting with "#" are metadata; identifiers carry a trailing tab (Alipay's guard against
spreadsheets); refund rows have negative amounts and the out_request_no in 退款批次号/请求号.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass

from heatdesk.payments.providers.amounts import yuan_str_to_fen
from heatdesk.payments.providers.wechatpay_bill import BillFormatError

DETAIL_SUFFIX = "_业务明细.csv"
_TOTAL = re.compile(r"#交易合计：(\d+)笔，商家实收共(-?[0-9.]+)元")
_REFUND_TOTAL = re.compile(r"#退款合计：(\d+)笔，商家实收共(-?[0-9.]+)元")


@dataclass(frozen=True)
class AlipayBillRow:
    trade_no: str
    out_trade_no: str
    kind: str  # 交易 (payment) or 退款 (refund)
    subject: str
    created_at: str
    finished_at: str
    amount_fen: int  # 订单金额（元）, negative on refund rows
    received_fen: int  # 商家实收（元）
    out_request_no: str
    fee: str
    raw: dict[str, str]


@dataclass(frozen=True)
class AlipayBill:
    rows: list[AlipayBillRow]
    trade_count: int | None
    trade_received_fen: int | None
    refund_count: int | None
    refund_received_fen: int | None


def _fen(row: dict[str, str], column: str, *, line: int) -> int:
    text = row.get(column, "")
    if text == "":
        return 0
    try:
        return yuan_str_to_fen(text, allow_negative=True)
    except ValueError as exc:
        raise BillFormatError(f"line {line}: {column}: {exc}") from None


def parse_bill_zip(content: bytes) -> AlipayBill:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile:
        raise BillFormatError("the bill is not a ZIP file") from None
    with archive:
        names = [n for n in archive.namelist() if n.endswith(DETAIL_SUFFIX)]
        if len(names) != 1:
            raise BillFormatError("the bill ZIP has no single 业务明细 file")
        raw = archive.read(names[0])
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError:
        raise BillFormatError("the bill is not GBK") from None
    return parse_detail_csv(text)


def parse_detail_csv(text: str) -> AlipayBill:
    meta = [line for line in text.splitlines() if line.startswith("#")]
    body = "\n".join(line for line in text.splitlines() if line and not line.startswith("#"))
    lines = list(csv.reader(io.StringIO(body)))
    if not lines:
        raise BillFormatError("the bill has no header")
    header = [h.strip() for h in lines[0]]
    rows: list[AlipayBillRow] = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise BillFormatError(f"row {number}: {len(fields)} fields, header has {len(header)}")
        row = dict(zip(header, (f.strip() for f in fields), strict=True))
        rows.append(
            AlipayBillRow(
                trade_no=row.get("支付宝交易号", ""),
                out_trade_no=row.get("商户订单号", ""),
                kind=row.get("业务类型", ""),
                subject=row.get("商品名称", ""),
                created_at=row.get("创建时间", ""),
                finished_at=row.get("完成时间", ""),
                amount_fen=_fen(row, "订单金额（元）", line=number),
                received_fen=_fen(row, "商家实收（元）", line=number),
                out_request_no=row.get("退款批次号/请求号", ""),
                fee=row.get("服务费（元）", ""),
                raw=row,
            )
        )
    totals: dict[str, tuple[int | None, int | None]] = {
        "trade": (None, None),
        "refund": (None, None),
    }
    for line in meta:
        for key, pattern in (("trade", _TOTAL), ("refund", _REFUND_TOTAL)):
            found = pattern.match(line)
            if found:
                try:
                    received = yuan_str_to_fen(found.group(2), allow_negative=True)
                except ValueError as exc:
                    raise BillFormatError(f"{line}: {exc}") from None
                totals[key] = (int(found.group(1)), received)
    return AlipayBill(
        rows=rows,
        trade_count=totals["trade"][0],
        trade_received_fen=totals["trade"][1],
        refund_count=totals["refund"][0],
        refund_received_fen=totals["refund"][1],
    )
