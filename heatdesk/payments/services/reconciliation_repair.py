"""What reconciliation may fix by itself, and what it must hand to a person.

Safe: a bill row for an order we know but do not show as paid (长款) is queried through
`order_sync`, which applies the provider's truth and settles the order once (补单); a refund row
for a refund we still show as processing is queried through `refund_sync`. Not safe: a payment
we booked that the provider does not have (短款) is queried, and if the provider says unpaid, an
alert is raised and the order is marked for a person. Nothing is ever reversed silently.

Provider calls run outside any transaction; each item moves by compare-and-set on its state.
"""

import logging
from collections.abc import Iterable
from typing import Any

from heatdesk.core import clock
from heatdesk.payments.models import (
    PaymentAlert,
    PaymentOrder,
    Provider,
    ReconciliationItem,
    Refund,
)
from heatdesk.payments.providers.errors import ProviderError, ProviderRefused
from heatdesk.payments.services.reconciliation_status import report_refresh_status

logger = logging.getLogger("heatdesk.payments.reconciliation")

Kind = ReconciliationItem.Kind
State = ReconciliationItem.State
PAID_WORDS = frozenset({"SUCCESS", "REFUND", "TRADE_SUCCESS", "TRADE_FINISHED"})


def _item_update(item: ReconciliationItem, **fields: Any) -> bool:
    """Compare-and-set from OPEN; True if this call changed the item."""
    changed = ReconciliationItem.objects.filter(pk=item.pk, state=State.OPEN).update(**fields)
    return bool(changed)


def _repair_channel_only(item: ReconciliationItem) -> str:
    from heatdesk.payments.services.sync import order_sync

    order = item.order
    if order is None or item.out_refund_no:
        return "本地无对应订单/退款，需人工核实"
    try:
        order = order_sync(order)
    except ProviderError as exc:
        return f"查单失败：{exc.message}"
    order = PaymentOrder.objects.get(pk=order.pk)
    if order.status == PaymentOrder.Status.PAID and order.paid_fen == item.provider_fen:
        _item_update(
            item,
            state=State.REPAIRED,
            local_fen=order.paid_fen,
            resolved_at=clock.now(),
            note="查单确认已支付，已补单入账",
        )
        return ""
    return f"查单后本地状态为 {order.status}，需人工核实"


def _repair_refund_status(item: ReconciliationItem) -> str:
    refund = item.refund
    if refund is None or refund.status not in (Refund.Status.PROCESSING, Refund.Status.UNKNOWN):
        return "渠道有退款记录而本地退款未成功，需人工核实"
    from heatdesk.payments.services.refunds import refund_sync

    try:
        refund = refund_sync(refund)
    except ProviderError as exc:
        return f"退款查询失败：{exc.message}"
    refund = Refund.objects.get(pk=refund.pk)
    if refund.status == Refund.Status.SUCCEEDED and refund.amount_fen == item.provider_fen:
        _item_update(item, state=State.REPAIRED, resolved_at=clock.now(), note="查询确认退款成功")
        return ""
    return f"查询后本地退款状态为 {refund.status}，需人工核实"


def provider_trade_state(*, provider: str, out_trade_no: str) -> tuple[str, int | None]:
    """The provider's word for an order (SUCCESS / NOTPAY / TRADE_SUCCESS / NOT_EXIST …) and
    its amount; raises ProviderError when there is no trustworthy answer."""
    from heatdesk.payments.providers.config import alipay_client, wechatpay_client

    try:
        if provider == Provider.WECHATPAY:
            trade = wechatpay_client().query_order(out_trade_no)
            return trade.trade_state, trade.total_fen
        found = alipay_client().query(out_trade_no=out_trade_no)
        return found.trade_status, found.total_fen
    except ProviderRefused as exc:
        if exc.code in ("ORDER_NOT_EXIST", "ORDERNOTEXIST", "ACQ.TRADE_NOT_EXIST"):
            return "NOT_EXIST", None
        raise


def _escalate_local_only(item: ReconciliationItem) -> str:
    from heatdesk.payments.services.alerts import alert_raise

    order = item.order
    if order is None:
        return "本地记录缺失"
    detail: dict[str, Any] = dict(item.detail)
    if item.out_refund_no:
        word = "退款不在渠道账单中"
    else:
        try:
            state, fen = provider_trade_state(
                provider=order.provider, out_trade_no=order.out_trade_no
            )
        except ProviderError as exc:
            state, fen = "QUERY_FAILED", None
            detail["query_error"] = exc.message[:200]
        detail.update(provider_state=state, provider_total_fen=fen)
        if state in PAID_WORDS:
            ReconciliationItem.objects.filter(pk=item.pk).update(detail=detail)
            return "渠道查单为已支付，但不在当日账单中"
        word = f"渠道查单结果 {state}"
    ReconciliationItem.objects.filter(pk=item.pk).update(detail=detail)
    PaymentOrder.objects.filter(pk=order.pk, needs_attention=False).update(needs_attention=True)
    alert_raise(
        kind=PaymentAlert.Kind.RECONCILIATION,
        message=f"短款：本地已入账而渠道账单无此笔（{word}），请核实，系统不会自动冲正",
        provider=order.provider,
        out_trade_no=order.out_trade_no,
        detail={"item": item.pk, "report": item.report_id, **detail},
    )
    return word


def items_repair(items: Iterable[ReconciliationItem]) -> None:
    """Try the safe repairs on open items; escalate 短款; one alert per report still open."""
    from heatdesk.payments.services.alerts import alert_raise

    reports: set[int] = set()
    for stale in items:
        item = ReconciliationItem.objects.select_related("order", "refund").get(pk=stale.pk)
        reports.add(item.report_id)
        if item.state != State.OPEN:
            continue
        outcome = ""
        try:
            if item.kind == Kind.CHANNEL_ONLY:
                outcome = _repair_channel_only(item)
            elif item.kind == Kind.STATUS_MISMATCH and item.out_refund_no:
                outcome = _repair_refund_status(item)
            elif item.kind == Kind.LOCAL_ONLY:
                outcome = _escalate_local_only(item)
        except Exception:  # one item must not stop the others; the item stays open
            logger.exception("reconciliation repair of item %s failed", item.pk)
            outcome = "自动处理出错，需人工核实"
        if outcome:
            ReconciliationItem.objects.filter(pk=item.pk, state=State.OPEN).update(
                note=outcome[:300]
            )
    for report_id in sorted(reports):
        status = report_refresh_status(report_id)
        still_open = ReconciliationItem.objects.filter(report_id=report_id, state=State.OPEN)
        if status == "discrepant":
            first = still_open.select_related("report").first()
            if first is not None:
                alert_raise(
                    kind=PaymentAlert.Kind.RECONCILIATION,
                    message=(
                        f"{first.report.bill_date} {first.report.provider} 对账有 "
                        f"{still_open.count()} 项差异待处理"
                    ),
                    provider=first.report.provider,
                    detail={"report": report_id},
                )
