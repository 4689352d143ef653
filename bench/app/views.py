"""The three ceiling endpoints, written the way HeatDesk's own API is (ninja + pydantic)."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI, Schema
from pydantic import Field

from bench.app.models import ReadRow, WriteRow
from heatdesk.core.api import install_error_handlers

api = NinjaAPI(
    title="HeatDesk bench ceilings",
    version="bench",
    urls_namespace="bench",
    docs_url=None,
    openapi_url=None,
)
install_error_handlers(api)

HELLO = {"status": "ok", "service": "heatdesk", "version": 1}


class HelloOut(Schema):
    status: str
    service: str
    version: int


class ReadRowOut(Schema):
    id: int
    account_id: int
    period: str
    heat_gj: Decimal
    amount_fen: int
    status: int
    due_date: dt.date
    issued_at: dt.datetime
    note: str


class WriteIn(Schema):
    ext_txn_id: str = Field(..., max_length=64)
    account_id: int
    amount_fen: int = Field(..., ge=0)


class WriteOut(Schema):
    id: int


@api.get("/hello", response=HelloOut)
def hello(request: HttpRequest) -> dict[str, object]:
    """No database: Django + ninja + the middleware stack, nothing else."""
    return HELLO


@api.get("/rows/{row_id}", response=ReadRowOut)
def row_read(request: HttpRequest, row_id: int) -> ReadRow:
    """One primary-key SELECT, serialised through a pydantic schema."""
    return get_object_or_404(ReadRow, pk=row_id)


@api.post("/writes", response=WriteOut)
def row_insert(request: HttpRequest, payload: WriteIn) -> dict[str, int]:
    """One INSERT inside a transaction."""
    with transaction.atomic():
        row = WriteRow.objects.create(**payload.dict())
    return {"id": row.pk}
