"""Receipts (收费收据): the printable PDF of a paid order — handed over by the collector at the
counter, downloaded by the resident for an online payment — and the public check of whether a
receipt is genuine.

The PDF is drawn with reportlab's built-in CJK font (STSong-Light, no font files) and carries a
QR code of a verification URL: PUBLIC_BASE_URL + /receipts/verify/<receipt no>/<token>. The token
is a keyed hash of the receipt number, so receipt numbers (readable, partly predictable) cannot
be walked to read other receipts; the page shows the status, amount and a masked address only.
"""

import io
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from heatdesk.core import clock
from heatdesk.core.money import format_fen
from heatdesk.estates.models import House
from heatdesk.payments.capital_numerals import amount_in_capitals
from heatdesk.payments.models import Channel, PaymentOrder, Provider

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
CHANNEL_ENGLISH: dict[str, str] = {
    Channel.CASH: "Cash",
    Channel.POS: "Bank card (POS)",
    Channel.TRANSFER: "Bank transfer",
}
_TOKEN_SALT = "heatdesk.payments.receipt"  # noqa: S105 - a key-derivation salt, not a secret


def receipt_token(receipt_no: str) -> str:
    return salted_hmac(_TOKEN_SALT, receipt_no).hexdigest()[:20]


def receipt_verify_path(receipt_no: str) -> str:
    return reverse(
        "receipt-verify", kwargs={"receipt_no": receipt_no, "token": receipt_token(receipt_no)}
    )


def receipt_verify_url(receipt_no: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + receipt_verify_path(receipt_no)


def receipt_find(*, receipt_no: str, token: str) -> PaymentOrder | None:
    """The counter order behind a verification link, or None when the token does not match."""
    if not receipt_no or not constant_time_compare(token, receipt_token(receipt_no)):
        return None
    return PaymentOrder.objects.filter(receipt_no=receipt_no).select_related("collector").first()


def address_masked(house: House) -> str:
    """The community and building only: 阳光小区3号楼****."""
    building = house.unit.building
    return f"{building.community.name}{building.name}****"


@dataclass(frozen=True)
class ReceiptLine:
    label: str
    amount_fen: int


@dataclass(frozen=True)
class Receipt:
    company: str
    receipt_no: str
    account_no: str
    address: str
    lines: list[ReceiptLine]
    channel: str
    channel_english: str
    reference: str
    collector: str
    paid_at_local: str
    total_fen: int
    total_capitals: str
    verify_url: str
    voided: bool


def receipt_for(*, order: PaymentOrder) -> Receipt:
    """What a counter order's receipt says (the PDF and any future page share it)."""
    if not order.receipt_no:
        raise ValueError("only paid orders have receipts")
    online = order.provider != Provider.COUNTER
    items = list(
        order.items.select_related("house__unit__building__community", "bill__season").order_by(
            "id"
        )
    )
    house = items[0].house
    lines = [
        ReceiptLine(
            label=(
                f"{item.bill.season.code} 采暖费 Heating fee（{item.bill.public_id}）"
                if item.bill is not None
                else "预缴/账户余额 Prepayment"
            ),
            amount_fen=item.amount_fen,
        )
        for item in items
    ]
    total = order.paid_fen if order.paid_fen is not None else order.amount_fen
    paid_at = order.paid_at or order.created_at
    return Receipt(
        company=settings.HEATDESK_COMPANY_NAME,
        receipt_no=order.receipt_no,
        account_no=house.account_no,
        address=house.address,
        lines=lines,
        channel=order.get_channel_display(),
        channel_english=CHANNEL_ENGLISH.get(order.channel, order.channel),
        # Online: the provider's transaction number, which the payer's WeChat/Alipay bill shows.
        reference=order.transaction_id if online else order.counter_reference,
        collector=(
            "在线缴费 Online"
            if online
            else str(order.collector.username)
            if order.collector
            else ""
        ),
        paid_at_local=clock.to_local(paid_at).strftime("%Y-%m-%d %H:%M:%S"),
        total_fen=total,
        total_capitals=amount_in_capitals(total),
        verify_url=receipt_verify_url(order.receipt_no),
        voided=order.status == PaymentOrder.Status.VOIDED,
    )


def _fonts() -> None:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def receipt_pdf(*, order: PaymentOrder) -> bytes:
    """The receipt as a one-page A5 landscape PDF; a voided payment's receipt says 已作废."""
    data = receipt_for(order=order)
    _fonts()
    buffer = io.BytesIO()
    width, height = landscape(A5)
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    pdf.setTitle(f"Receipt {data.receipt_no}")
    pdf.setAuthor(data.company)
    left, top = 15 * mm, height - 15 * mm

    pdf.setFont(CJK_FONT, 16)
    pdf.drawCentredString(width / 2, top, data.company)
    pdf.setFont(CJK_FONT, 13)
    pdf.drawCentredString(width / 2, top - 8 * mm, "收费收据  Payment Receipt")

    pdf.setFont(CJK_FONT, 10)
    y = top - 18 * mm
    pdf.drawString(left, y, "收据号 Receipt No.：")
    pdf.setFont(LATIN_FONT, 10)
    pdf.drawString(left + 36 * mm, y, data.receipt_no)
    rows = [
        ("户号 Account No.：", data.account_no),
        ("地址 Address：", data.address),
        ("收费方式 Channel：", f"{data.channel} {data.channel_english}"),
    ]
    if data.reference:
        rows.append(("凭证号 Reference：", data.reference))
    rows += [
        ("收费员 Collector：", data.collector),
        ("收费时间 Time：", f"{data.paid_at_local}（北京时间 UTC+8）"),
    ]
    for label, value in rows:
        y -= 6 * mm
        pdf.setFont(CJK_FONT, 10)
        pdf.drawString(left, y, label)
        pdf.drawString(left + 36 * mm, y, value)

    y -= 9 * mm
    pdf.setFont(CJK_FONT, 10)
    pdf.drawString(left, y, "项目 Item")
    pdf.drawRightString(left + 120 * mm, y, "金额 Amount")
    pdf.line(left, y - 2 * mm, left + 120 * mm, y - 2 * mm)
    for line in data.lines:
        y -= 6 * mm
        pdf.drawString(left, y, line.label)
        pdf.drawRightString(left + 120 * mm, y, format_fen(line.amount_fen))
    y -= 8 * mm
    pdf.setFont(CJK_FONT, 11)
    pdf.drawString(left, y, f"合计 Total：{format_fen(data.total_fen)}")
    y -= 6 * mm
    pdf.drawString(left, y, f"人民币大写：{data.total_capitals}")

    qr_size = 32 * mm
    qr = QrCodeWidget(data.verify_url)
    x0, y0, x1, y1 = qr.getBounds()
    drawing = Drawing(
        qr_size, qr_size, transform=[qr_size / (x1 - x0), 0, 0, qr_size / (y1 - y0), 0, 0]
    )
    drawing.add(qr)
    qr_x, qr_y = width - 15 * mm - qr_size, 22 * mm
    renderPDF.draw(drawing, pdf, qr_x, qr_y)
    pdf.setFont(CJK_FONT, 8)
    pdf.drawCentredString(qr_x + qr_size / 2, qr_y - 4 * mm, "扫码验真 Scan to verify")
    pdf.setFont(LATIN_FONT, 6)
    pdf.drawRightString(width - 15 * mm, 10 * mm, data.verify_url)

    if data.voided:
        pdf.saveState()
        pdf.setFillColorRGB(0.8, 0, 0)
        pdf.setFont(CJK_FONT, 56)
        pdf.translate(width / 2, height / 2)
        pdf.rotate(20)
        pdf.drawCentredString(0, 0, "已作废")
        pdf.setFont(LATIN_FONT, 20)
        pdf.drawCentredString(0, -12 * mm, "VOID")
        pdf.restoreState()

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
