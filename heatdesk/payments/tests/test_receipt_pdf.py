"""The receipt PDF: a real PDF with the receipt number and the verification URL of its QR code;
the URL leads to the public check, which tells a genuine, voided or forged receipt apart."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import base64
import re
import zlib

import pytest
from django.conf import settings
from django.test import Client

from heatdesk.payments.receipts import receipt_for, receipt_pdf, receipt_token
from heatdesk.payments.services.counter import counter_payment_record, counter_payment_void
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    on_nov_20,
    shift,
)

pytestmark = pytest.mark.django_db


def page_text(pdf: bytes) -> str:
    """The drawing operators of every stream (reportlab writes ASCII85 over Flate), crudely."""
    chunks = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = raw.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2].replace(b"\n", b""))
        try:
            chunks.append(zlib.decompress(data).decode("latin-1"))
        except zlib.error:
            chunks.append(data.decode("latin-1"))
    return "\n".join(chunks)


@pytest.fixture
def order(collector, house_a, bill, shift):
    return counter_payment_record(
        collector=collector, house=house_a, bills=[bill], channel="cash", idempotency_key="k1"
    )


def test_receipt_contents(order, house_a, bill):
    data = receipt_for(order=order)
    assert data.receipt_no == order.receipt_no
    assert (data.account_no, data.address) == ("HT10000001", house_a.address)
    assert [(line.amount_fen, bill.public_id in line.label) for line in data.lines] == [
        (BILL, True)
    ]
    assert (data.channel, data.collector) == ("现金", "collector1")
    assert data.paid_at_local.startswith("2026-11-20 10:00")
    assert data.total_fen == BILL
    assert data.total_capitals == "贰仟贰佰叁拾柒元伍角整"
    assert data.company == settings.HEATDESK_COMPANY_NAME
    assert data.voided is False


def test_pdf_has_the_receipt_number_and_a_verify_url_that_resolves(order):
    pdf = receipt_pdf(order=order)
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    text = page_text(pdf)
    assert f"({order.receipt_no})" in text
    urls = re.findall(r"\((https?://[^)]+)\)", text)
    assert len(urls) == 1
    url = urls[0]
    assert url.startswith(settings.PUBLIC_BASE_URL)
    assert url.endswith(f"/{order.receipt_no}/{receipt_token(order.receipt_no)}")
    assert "VOID" not in text
    # when: someone scans it
    path = url[len(settings.PUBLIC_BASE_URL) :]
    answer = Client().get(path, {"format": "json"})
    # then
    assert answer.status_code == 200
    body = answer.json()
    assert body["genuine"] is True
    assert (body["receipt_no"], body["status"], body["amount_fen"]) == (
        order.receipt_no,
        "valid",
        BILL,
    )
    # a masked address only: community and building, no unit, room or owner
    assert body["address_masked"].endswith("****")
    assert "室" not in body["address_masked"]
    page = Client().get(path)
    assert page.status_code == 200
    assert "有效" in page.content.decode()


def test_a_forged_token_or_number_is_not_genuine(order):
    client = Client()
    wrong = client.get(f"/receipts/verify/{order.receipt_no}/{'0' * 20}", {"format": "json"})
    assert wrong.status_code == 404
    assert wrong.json() == {"genuine": False}
    made_up = "20261120-AAAAAA"
    forged = client.get(f"/receipts/verify/{made_up}/{receipt_token(made_up)}")
    assert forged.status_code == 404
    assert "未找到该收据" in forged.content.decode()


def test_a_voided_receipt_says_so(order, finance):
    counter_payment_void(order=order, supervisor=finance, reason="收错户")
    order.refresh_from_db()
    pdf = receipt_pdf(order=order)
    assert pdf.startswith(b"%PDF-")
    assert "(VOID)" in page_text(pdf)
    assert receipt_for(order=order).voided is True
    answer = Client().get(
        f"/receipts/verify/{order.receipt_no}/{receipt_token(order.receipt_no)}",
        {"format": "json"},
    )
    assert answer.json()["status"] == "voided"
