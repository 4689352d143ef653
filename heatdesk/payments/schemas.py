"""Request and answer shapes of the resident payments API (amounts in fen)."""

import datetime as dt
from typing import Any

from ninja import Field, Schema


class OrderCreateIn(Schema):
    channel: str = Field(description="wechat_jsapi, wechat_native, alipay_wap or alipay_precreate")
    bill_ids: list[str] = Field(default_factory=list, description="public ids of bills to pay")
    house_id: str | None = Field(
        default=None, description="pay a house's whole outstanding amount instead of bills"
    )
    openid: str = Field(
        default="",
        description="WeChat JSAPI only; defaults to the caller's mini-program openid",
    )


class OrderItemOut(Schema):
    house_id: str
    account_no: str
    bill_id: str | None
    season: str | None
    amount_fen: int
    late_fee_fen: int


class OrderOut(Schema):
    id: str
    out_trade_no: str
    channel: str
    channel_label: str
    status: str
    status_label: str
    amount_fen: int
    paid_fen: int | None
    excess_fen: int
    description: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    items: list[OrderItemOut]
    pay: dict[str, Any] | None = Field(
        default=None,
        description=(
            "pay parameters while the order is open: request_payment (wx.requestPayment), "
            "code_url, pay_url (Alipay WAP) or qr_code; null when the provider's answer is "
            "still unknown (poll the order, or repeat the request with the same key)"
        ),
    )


class RecordsOut(Schema):
    count: int
    page: int
    page_size: int
    results: list[OrderOut]
