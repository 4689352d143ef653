"""Refunds at the providers: the request persisted before the call, the call (or its exact
replay), the refund query, and what each answer means for our refund's status.

An answer is an `Outcome`: a status to move to, or None when the answer proves nothing (a
timeout, a 5xx, an unverifiable answer, a refund still processing at Alipay) and the refund
keeps its state for the next query.
"""

import json
from dataclasses import dataclass

from heatdesk.payments.models import PaymentOrder, Provider, Refund
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import (
    alipay_client,
    wechatpay_client,
    wechatpay_config,
)
from heatdesk.payments.providers.errors import ProviderOutcomeUnknown, ProviderRefused

Status = Refund.Status
WECHAT_STATUS = {
    "SUCCESS": Status.SUCCEEDED,
    "PROCESSING": Status.PROCESSING,
    "ABNORMAL": Status.ABNORMAL,
    "CLOSED": Status.CLOSED,
}
# WeChat answers for a refund number it has never seen.
NOT_FOUND_CODES = frozenset({"RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST", "NOT_FOUND"})


@dataclass(frozen=True)
class Outcome:
    status: str | None  # None: unknown, keep the current state
    provider_refund_id: str = ""
    failure: str = ""
    not_found: bool = False  # the provider has no such refund (never arrived)


def request_build(*, order: PaymentOrder, out_refund_no: str, amount_fen: int, reason: str) -> str:
    """The exact request sent under `out_refund_no`, persisted before the first call and sent
    unchanged on every retry (WeChat: the JSON body's bytes; Alipay: the biz parameters)."""
    if order.provider == Provider.WECHATPAY:
        body = wx.refund_body(
            wechatpay_config(),
            out_trade_no=order.out_trade_no,
            out_refund_no=out_refund_no,
            refund_fen=amount_fen,
            total_fen=order.amount_fen,
            reason=reason[:80],
        )
        return body.decode("utf-8")
    if order.provider == Provider.ALIPAY:
        return json.dumps(
            {
                "out_trade_no": order.out_trade_no,
                "out_request_no": out_refund_no,
                "refund_fen": amount_fen,
                "reason": reason[:80],
            },
            ensure_ascii=False,
            sort_keys=True,
        )
    return ""


def _refused(exc: ProviderRefused) -> Outcome:
    if exc.retryable:
        return Outcome(status=None, failure=f"{exc.code}: {exc.provider_message}"[:200])
    # A definitive refusal: the refund did not happen under this number.
    return Outcome(status=Status.CLOSED, failure=f"{exc.code}: {exc.provider_message}"[:200])


def submit(refund: Refund, order: PaymentOrder, *, replay: bool = False) -> Outcome:
    """Send (or replay) the persisted request. Safe to repeat: the providers are idempotent on
    the refund number, and the request never changes. A refusal of a replay (the first call's
    outcome unknown) closes the refund only once the query shows the provider never had it."""
    try:
        if order.provider == Provider.WECHATPAY:
            answer = wechatpay_client().create_refund(refund.provider_request.encode("utf-8"))
            return Outcome(
                status=WECHAT_STATUS.get(answer.status), provider_refund_id=answer.refund_id
            )
        params = json.loads(refund.provider_request)
        client = alipay_client()
        result = client.refund(
            out_trade_no=params["out_trade_no"],
            out_request_no=params["out_request_no"],
            refund_fen=params["refund_fen"],
            reason=params["reason"],
        )
        if result.fund_change:
            return Outcome(status=Status.SUCCEEDED, provider_refund_id=result.trade_no)
        # fund_change=N: no money moved in *this* call (a retry, or still processing) — not a
        # failure. The refund query says whether it is done.
        return query(refund, order)
    except ProviderRefused as exc:
        refused = _refused(exc)
        if replay and refused.status == Status.CLOSED:
            found = query(refund, order)
            return refused if found.not_found else found
        return refused
    except ProviderOutcomeUnknown as exc:
        return Outcome(status=None, failure=exc.message[:200])


def query(refund: Refund, order: PaymentOrder) -> Outcome:
    """Ask the provider for the refund's status."""
    try:
        if order.provider == Provider.WECHATPAY:
            answer = wechatpay_client().query_refund(refund.out_refund_no)
            return Outcome(
                status=WECHAT_STATUS.get(answer.status), provider_refund_id=answer.refund_id
            )
        found = alipay_client().refund_query(
            out_trade_no=order.out_trade_no, out_request_no=refund.out_refund_no
        )
        if found.succeeded:
            return Outcome(status=Status.SUCCEEDED, provider_refund_id=found.out_request_no)
        # Alipay answers an empty success for a refund it does not (yet) have: unknown.
        return Outcome(status=None)
    except ProviderRefused as exc:
        if exc.code in NOT_FOUND_CODES:
            return Outcome(status=None, not_found=True, failure=exc.code)
        return Outcome(status=None, failure=f"{exc.code}: {exc.provider_message}"[:200])
    except ProviderOutcomeUnknown as exc:
        return Outcome(status=None, failure=exc.message[:200])
