"""Parsing and verifying provider notifications; settlement acts only on a VerifiedNotify.

`wechatpay_parse_notify(headers, raw_body)` and `alipay_parse_notify(form)` either return a
VerifiedNotify or raise NotifyRejected (a 4xx for WeChat, anything but `success` for Alipay).
They check what can be checked without our orders: signature over the raw bytes, timestamp
window, serial, decryption, merchant identity and well-formed amounts. Matching the order and
its amount is the settlement layer's job.
"""

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from heatdesk.core import clock
from heatdesk.payments.providers import alipay_protocol, wechatpay_protocol
from heatdesk.payments.providers.alipay_client import AlipayConfig
from heatdesk.payments.providers.amounts import yuan_str_to_fen
from heatdesk.payments.providers.errors import NotifyRejected, VerificationError
from heatdesk.payments.providers.wechatpay_client import WechatPayConfig

WECHATPAY = "wechatpay"
ALIPAY = "alipay"
PAYMENT = "payment"
REFUND = "refund"
WECHAT_EVENTS = {
    "TRANSACTION.SUCCESS": PAYMENT,
    "REFUND.SUCCESS": REFUND,
    "REFUND.ABNORMAL": REFUND,
    "REFUND.CLOSED": REFUND,
}
ALIPAY_PAID = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
ALIPAY_STATUSES = frozenset({"WAIT_BUYER_PAY", "TRADE_CLOSED", *ALIPAY_PAID})
# Alipay retries for about 25 hours; a notify older than this is a replay, not a retry.
ALIPAY_NOTIFY_MAX_AGE = dt.timedelta(hours=48)


@dataclass(frozen=True)
class VerifiedNotify:
    """A notification whose origin and integrity are proven.

    `event_id` is the dedupe key (WeChat's envelope id, Alipay's notify_id). `status` is the
    provider's word (SUCCESS / REFUND.* status / TRADE_SUCCESS…); `paid` says whether a payment
    notify confirms the money. Refund notifies carry `out_refund_no` and `refund_fen` (WeChat:
    this refund's amount; Alipay: the cumulative refund_fee).
    """

    provider: str
    kind: str  # payment or refund
    event_id: str
    event_type: str
    out_trade_no: str
    transaction_id: str
    status: str
    amount_fen: int
    paid: bool = False
    out_refund_no: str = ""
    refund_fen: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _reject(message: str) -> NotifyRejected:
    return NotifyRejected(message)


def _int_fen(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _reject(f"{what} is not an integer number of fen")
    return value


def wechatpay_parse_notify(
    headers: Mapping[str, Any],
    raw_body: bytes,
    *,
    config: WechatPayConfig | None = None,
    now: float | None = None,
) -> VerifiedNotify:
    """Verify, decrypt and check a WeChat Pay notify (pass `request.headers` or `request.META`
    and `request.body`, the raw bytes: never a parsed and re-serialised body)."""
    if config is None:
        from heatdesk.payments.providers.config import wechatpay_config

        config = wechatpay_config()
    try:
        wechatpay_protocol.verify_signed_message(
            headers=headers, body=raw_body, platform=config.platform, now=now
        )
    except VerificationError as exc:
        raise _reject(f"WeChat Pay notify signature refused: {exc}") from exc
    try:
        envelope = json.loads(raw_body)
    except ValueError:
        raise _reject("WeChat Pay notify body is not JSON") from None
    if not isinstance(envelope, dict):
        raise _reject("WeChat Pay notify body is not a JSON object")
    event_type = str(envelope.get("event_type", ""))
    kind = WECHAT_EVENTS.get(event_type)
    if kind is None:
        raise _reject(f"unsupported WeChat Pay event_type {event_type[:40]!r}")
    resource = envelope.get("resource")
    if envelope.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
        raise _reject("WeChat Pay notify has no encrypted resource")
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise _reject("WeChat Pay notify resource uses an unknown algorithm")
    try:
        plaintext = wechatpay_protocol.decrypt_resource(
            api_v3_key=config.api_v3_key,
            nonce=str(resource.get("nonce", "")),
            ciphertext=str(resource.get("ciphertext", "")),
            associated_data=str(resource.get("associated_data") or ""),
        )
        data = json.loads(plaintext)
    except VerificationError as exc:
        raise _reject(f"WeChat Pay notify resource refused: {exc}") from exc
    except ValueError:
        raise _reject("WeChat Pay notify resource is not JSON") from None
    if not isinstance(data, dict):
        raise _reject("WeChat Pay notify resource is not a JSON object")
    if data.get("mchid") != config.mchid:
        raise _reject("WeChat Pay notify is for another merchant (mchid)")
    if kind == PAYMENT and data.get("appid") != config.appid:
        raise _reject("WeChat Pay notify is for another app (appid)")
    event_id = str(envelope.get("id", ""))
    out_trade_no = str(data.get("out_trade_no", ""))
    if not event_id or not out_trade_no:
        raise _reject("WeChat Pay notify lacks its id or out_trade_no")
    amount = data.get("amount")
    if not isinstance(amount, dict):
        raise _reject("WeChat Pay notify has no amount")
    total = _int_fen(amount.get("total"), "amount.total")
    if kind == PAYMENT:
        state = str(data.get("trade_state", ""))
        return VerifiedNotify(
            provider=WECHATPAY,
            kind=PAYMENT,
            event_id=event_id,
            event_type=event_type,
            out_trade_no=out_trade_no,
            transaction_id=str(data.get("transaction_id", "")),
            status=state,
            amount_fen=total,
            paid=state == "SUCCESS",
            payload=data,
        )
    out_refund_no = str(data.get("out_refund_no", ""))
    if not out_refund_no:
        raise _reject("WeChat Pay refund notify lacks out_refund_no")
    return VerifiedNotify(
        provider=WECHATPAY,
        kind=REFUND,
        event_id=event_id,
        event_type=event_type,
        out_trade_no=out_trade_no,
        transaction_id=str(data.get("transaction_id", "")),
        status=str(data.get("refund_status", "")),
        amount_fen=total,
        out_refund_no=out_refund_no,
        refund_fen=_int_fen(amount.get("refund"), "amount.refund"),
        payload=data,
    )


def _form_dict(form: Mapping[str, Any]) -> dict[str, str]:
    lists = getattr(form, "lists", None)
    if callable(lists):
        result: dict[str, str] = {}
        for key, values in lists():
            if len(values) != 1:
                raise _reject(f"Alipay notify repeats {key!r}")
            result[key] = str(values[0])
        return result
    return {str(k): str(v) for k, v in form.items()}


def _yuan(params: Mapping[str, str], name: str) -> int:
    try:
        return yuan_str_to_fen(params.get(name, ""))
    except ValueError as exc:
        raise _reject(f"Alipay notify {name}: {exc}") from None


def alipay_parse_notify(
    form: Mapping[str, Any],
    *,
    config: AlipayConfig | None = None,
    now: dt.datetime | None = None,
) -> VerifiedNotify:
    """Verify and check an Alipay async notify (pass `request.POST`, decoded as UTF-8)."""
    if config is None:
        from heatdesk.payments.providers.config import alipay_config

        config = alipay_config()
    params = _form_dict(form)
    try:
        alipay_protocol.verify_notify(params, config.alipay_public_key)
    except VerificationError as exc:
        raise _reject(f"Alipay notify signature refused: {exc}") from exc
    if params.get("app_id") != config.app_id:
        raise _reject("Alipay notify is for another app (app_id)")
    if config.seller_id and params.get("seller_id") != config.seller_id:
        raise _reject("Alipay notify is for another seller (seller_id)")
    notify_id, out_trade_no = params.get("notify_id", ""), params.get("out_trade_no", "")
    if not notify_id or not out_trade_no:
        raise _reject("Alipay notify lacks notify_id or out_trade_no")
    try:
        notify_time = alipay_protocol.parse_timestamp(params.get("notify_time", ""))
    except VerificationError as exc:
        raise _reject(f"Alipay notify notify_time: {exc}") from exc
    if (now or clock.now()) - notify_time > ALIPAY_NOTIFY_MAX_AGE:
        raise _reject("Alipay notify is too old to be a retry")
    status = params.get("trade_status", "")
    if status not in ALIPAY_STATUSES:
        raise _reject(f"unsupported Alipay trade_status {status[:40]!r}")
    total = _yuan(params, "total_amount")
    is_refund = bool(params.get("refund_fee") or params.get("out_biz_no"))
    return VerifiedNotify(
        provider=ALIPAY,
        kind=REFUND if is_refund else PAYMENT,
        event_id=notify_id,
        event_type=params.get("notify_type", ""),
        out_trade_no=out_trade_no,
        transaction_id=params.get("trade_no", ""),
        status=status,
        amount_fen=total,
        paid=not is_refund and status in ALIPAY_PAID,
        out_refund_no=params.get("out_biz_no", ""),
        refund_fen=_yuan(params, "refund_fee") if params.get("refund_fee") else None,
        payload=params,
    )
