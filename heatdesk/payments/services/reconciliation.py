"""Daily reconciliation (对账) of one provider's bill for one Beijing day against our books.

Every row of the bill is matched to our order (on out_trade_no, with the provider's transaction
id checked) or refund (on out_refund_no) and the amounts compared in fen; every payment or
refund we booked that day must be in the bill. What does not match becomes an item:

- CHANNEL_ONLY (长款): the provider has money we do not show as paid. If we know the order,
  it is queried and settled through `order_sync` (补单) and the item is REPAIRED.
- LOCAL_ONLY (短款): we show a payment the bill does not have. The order is queried and, if the
  provider says unpaid, an alert is raised and the order marked for a person: never reversed
  silently. Near midnight it is CARRIED first, since the provider may date it the next day.
- AMOUNT_MISMATCH, STATUS_MISMATCH (e.g. a refund row while we show the refund as failed).

Matched rows are only counted in the report's totals. A re-run updates the same report: items
that now match are closed, new ones added, resolved ones kept.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import ValidationFailed
from heatdesk.payments.models import (
    PaymentAlert,
    PaymentOrder,
    Provider,
    ReconciliationItem,
    ReconciliationReport,
    Refund,
)
from heatdesk.payments.services.reconciliation_bills import (
    PAYMENT,
    REFUND,
    BillNotReady,
    BillRejected,
    ChannelBill,
    ChannelRow,
    alipay_bill_fetch,
    wechatpay_bill_fetch,
)
from heatdesk.payments.services.reconciliation_status import report_refresh_status

logger = logging.getLogger("heatdesk.payments.reconciliation")

Kind = ReconciliationItem.Kind
State = ReconciliationItem.State
RStatus = ReconciliationReport.Status
ONLINE_PROVIDERS = (Provider.WECHATPAY, Provider.ALIPAY)
# A payment booked this close to either end of the day may sit in the neighbouring day's bill.
MIDNIGHT_WINDOW = dt.timedelta(minutes=30)
LIVE_STATES = (State.OPEN, State.CARRIED)


@dataclass
class _Found:
    """One discrepancy found by a run, before it becomes (or updates) an item."""

    kind: str
    out_trade_no: str = ""
    transaction_id: str = ""
    out_refund_no: str = ""
    provider_fen: int | None = None
    local_fen: int | None = None
    order: PaymentOrder | None = None
    refund: Refund | None = None
    state: str = State.OPEN
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.out_trade_no, self.out_refund_no)


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = clock.local_day_start(day)
    return start, clock.local_day_start(day + dt.timedelta(days=1))


def _local_day(moment: dt.datetime | None) -> dt.date | None:
    return clock.to_local(moment).date() if moment else None


def _near_midnight(moment: dt.datetime | None, day: dt.date) -> bool:
    if moment is None:
        return False
    start, end = _day_bounds(day)
    return moment - start < MIDNIGHT_WINDOW or end - moment <= MIDNIGHT_WINDOW


def _fetch(provider: str, day: dt.date, client: Any) -> ChannelBill:
    from heatdesk.payments.providers.config import alipay_client, wechatpay_client

    if provider == Provider.WECHATPAY:
        return wechatpay_bill_fetch(client=client or wechatpay_client(), day=day)
    return alipay_bill_fetch(client=client or alipay_client(), day=day)


def reconcile_day(
    *, provider: str, day: dt.date, by: Any = None, client: Any = None
) -> ReconciliationReport:
    """Reconcile `provider`'s bill of the Beijing day `day` (or, for "counter", the collectors'
    shifts closed that day) and return its report. Safe to run again: the report is updated.

    A bill not ready yet (or a day without trades, or a download that failed) leaves the
    report PENDING for a later run; a bill whose hash or summary does not add up makes it
    FAILED with no items. `by` is the staff member who asked (None for the periodic job)."""
    if day > clock.local_today():
        raise ValidationFailed(
            "不能对未来的日期对账。", code="reconcile_day_in_future", fields={"date": ["未来日期"]}
        )
    if provider == Provider.COUNTER:
        from heatdesk.payments.services.reconciliation_counter import counter_reconcile_day

        report = counter_reconcile_day(day=day, by=by)
        _audit_run(report, by)
        return report
    if provider not in ONLINE_PROVIDERS:
        raise ValidationFailed(
            "不支持的支付渠道。", code="reconcile_provider_invalid", fields={"provider": ["无效"]}
        )
    report, _ = ReconciliationReport.objects.get_or_create(provider=provider, bill_date=day)
    _audit_run(report, by)
    try:
        bill = _fetch(provider, day, client)
    except BillNotReady as exc:
        return _not_ready(report, exc)
    except BillRejected as exc:
        return _rejected(report, exc)
    return _reconcile(report, bill)


def _audit_run(report: ReconciliationReport, by: Any) -> None:
    if by is None:
        return
    with transaction.atomic():
        audit_record(
            actor=by,
            action="payments.reconciliation_run",
            obj=report,
            before={"status": report.status},
            reason=f"{report.provider} {report.bill_date.isoformat()}",
        )


def _not_ready(report: ReconciliationReport, exc: BillNotReady) -> ReconciliationReport:
    day = report.bill_date
    carry = int(settings.PAYMENTS_RECONCILE_CARRY_DAYS)
    if exc.no_trades:
        local = (
            _local_orders(report.provider, day).exists()
            or _local_refunds(report.provider, day).exists()
        )
        # Nothing on either side: nothing to reconcile. Our payments but no bill: wait for the
        # bill a few days, then reconcile against an empty one (every payment is then 短款).
        if not local or day + dt.timedelta(days=carry) < clock.local_today():
            return _reconcile(report, ChannelBill(rows=[], summary={"count": 0}), note=exc.message)
    ReconciliationReport.objects.filter(pk=report.pk).update(
        status=RStatus.PENDING,
        error=exc.message[:300],
        attempts=report.attempts + 1,
        updated_at=clock.now(),
    )
    report.refresh_from_db()
    logger.info("reconciliation %s %s pending: %s", report.provider, day, exc.message)
    return report


def _rejected(report: ReconciliationReport, exc: BillRejected) -> ReconciliationReport:
    from heatdesk.payments.services.alerts import alert_raise

    with transaction.atomic():
        locked = ReconciliationReport.objects.select_for_update().get(pk=report.pk)
        # A rejected file may not add or close items; what an earlier good file found stays.
        locked.status = RStatus.FAILED
        locked.error = exc.message[:300]
        locked.file_hash = exc.file_hash
        locked.attempts += 1
        locked.fetched_at = clock.now()
        locked.save(update_fields=["status", "error", "file_hash", "attempts", "fetched_at"])
        alert_raise(
            kind=PaymentAlert.Kind.RECONCILIATION,
            message=f"{locked.bill_date} 对账单被拒绝：{exc.message}",
            provider=locked.provider,
            detail={"report": locked.pk, "bill_date": locked.bill_date.isoformat()},
        )
    return locked


def _local_orders(provider: str, day: dt.date) -> Any:
    start, end = _day_bounds(day)
    return PaymentOrder.objects.filter(
        provider=provider, status=PaymentOrder.Status.PAID, paid_at__gte=start, paid_at__lt=end
    )


def _local_refunds(provider: str, day: dt.date) -> Any:
    start, end = _day_bounds(day)
    return Refund.objects.filter(
        order__provider=provider,
        status=Refund.Status.SUCCEEDED,
        succeeded_at__gte=start,
        succeeded_at__lt=end,
    ).select_related("order")


def _cross_day_keys(provider: str, day: dt.date) -> set[str]:
    """Keys that neighbouring days' bills matched although we booked them on another day."""
    carry = int(settings.PAYMENTS_RECONCILE_CARRY_DAYS)
    keys: set[str] = set()
    for totals in (
        ReconciliationReport.objects.filter(
            provider=provider,
            bill_date__gte=day - dt.timedelta(days=carry),
            bill_date__lte=day + dt.timedelta(days=carry),
        )
        .exclude(bill_date=day)
        .values_list("totals", flat=True)
    ):
        keys.update((totals or {}).get("cross_day", []))
    return keys


def _row_found(kind: str, row: ChannelRow, **fields: Any) -> _Found:
    found = _Found(
        kind=kind,
        out_trade_no=row.out_trade_no,
        transaction_id=row.transaction_id,
        out_refund_no=row.out_refund_no,
        provider_fen=row.fen,
        detail={"channel_status": row.status, "channel_time": row.at},
    )
    detail = fields.pop("detail", {})
    for name, value in fields.items():
        setattr(found, name, value)
    found.detail.update(detail)
    return found


def _match_payment(row: ChannelRow, order: PaymentOrder | None) -> _Found | None:
    if order is None:
        return _row_found(Kind.CHANNEL_ONLY, row)
    local_fen = order.paid_fen if order.paid_fen is not None else order.amount_fen
    if order.status != PaymentOrder.Status.PAID:
        return _row_found(
            Kind.CHANNEL_ONLY, row, order=order, detail={"local_status": order.status}
        )
    if order.transaction_id and row.transaction_id and order.transaction_id != row.transaction_id:
        return _row_found(
            Kind.STATUS_MISMATCH,
            row,
            order=order,
            local_fen=local_fen,
            detail={"local_transaction_id": order.transaction_id},
        )
    if local_fen != row.fen:
        return _row_found(Kind.AMOUNT_MISMATCH, row, order=order, local_fen=local_fen)
    return None


def _match_refund(row: ChannelRow, refund: Refund | None) -> _Found | None:
    if refund is None:
        return _row_found(Kind.CHANNEL_ONLY, row)
    mine = {
        "refund": refund,
        "order": refund.order,
        "local_fen": refund.amount_fen,
        "detail": {"local_status": refund.status},
    }
    if refund.status != Refund.Status.SUCCEEDED:
        # WeChat's refund row is a snapshot: PROCESSING on both sides is not a discrepancy.
        if row.status != "SUCCESS" and refund.status in (
            Refund.Status.PROCESSING,
            Refund.Status.UNKNOWN,
        ):
            return None
        return _row_found(Kind.STATUS_MISMATCH, row, **mine)
    if refund.amount_fen != row.fen:
        return _row_found(Kind.AMOUNT_MISMATCH, row, **mine)
    return None


def _reconcile(
    report: ReconciliationReport, bill: ChannelBill, *, note: str = ""
) -> ReconciliationReport:
    provider, day = report.provider, report.bill_date
    carry = int(settings.PAYMENTS_RECONCILE_CARRY_DAYS)
    with transaction.atomic():
        report = ReconciliationReport.objects.select_for_update().get(pk=report.pk)
        pay_rows = [r for r in bill.rows if r.kind == PAYMENT]
        refund_rows = [r for r in bill.rows if r.kind == REFUND]
        orders = {
            o.out_trade_no: o
            for o in PaymentOrder.objects.filter(
                provider=provider, out_trade_no__in=[r.out_trade_no for r in pay_rows]
            )
        }
        refunds = {
            r.out_refund_no: r
            for r in Refund.objects.filter(
                order__provider=provider, out_refund_no__in=[r.out_refund_no for r in refund_rows]
            ).select_related("order")
        }
        found: list[_Found] = []
        matched_keys: set[str] = set()
        cross_day: list[str] = []
        for row in pay_rows:
            order = orders.get(row.out_trade_no)
            problem = _match_payment(row, order)
            if problem is None and order is not None:
                matched_keys.add(row.out_trade_no)
                if _local_day(order.paid_at) != day:
                    cross_day.append(row.out_trade_no)
            elif problem is not None:
                found.append(problem)
        for row in refund_rows:
            refund = refunds.get(row.out_refund_no)
            problem = _match_refund(row, refund)
            if problem is None and refund is not None:
                matched_keys.add(row.out_refund_no)
                if _local_day(refund.succeeded_at) != day:
                    cross_day.append(row.out_refund_no)
            elif problem is not None:
                found.append(problem)

        # Our side: what we booked that day and the bill does not have.
        billed_orders = {r.out_trade_no for r in pay_rows}
        billed_refunds = {r.out_refund_no for r in refund_rows}
        elsewhere = _cross_day_keys(provider, day)
        local_orders = list(_local_orders(provider, day))
        local_refunds = list(_local_refunds(provider, day))
        for order in local_orders:
            if order.out_trade_no in billed_orders or order.out_trade_no in elsewhere:
                continue
            fen = order.paid_fen if order.paid_fen is not None else order.amount_fen
            found.append(
                _Found(
                    kind=Kind.LOCAL_ONLY,
                    out_trade_no=order.out_trade_no,
                    transaction_id=order.transaction_id,
                    local_fen=fen,
                    order=order,
                    state=State.CARRIED if _near_midnight(order.paid_at, day) else State.OPEN,
                    detail={"local_time": clock.format_local(order.paid_at)},
                )
            )
        for refund in local_refunds:
            if refund.out_refund_no in billed_refunds or refund.out_refund_no in elsewhere:
                continue
            found.append(
                _Found(
                    kind=Kind.LOCAL_ONLY,
                    out_trade_no=refund.order.out_trade_no,
                    out_refund_no=refund.out_refund_no,
                    local_fen=refund.amount_fen,
                    order=refund.order,
                    refund=refund,
                    state=State.CARRIED if _near_midnight(refund.succeeded_at, day) else State.OPEN,
                    detail={"local_time": clock.format_local(refund.succeeded_at)}
                    if refund.succeeded_at
                    else {},
                )
            )

        now = clock.now()
        # Earlier days' carried items that this bill has now: they were a date edge, not 短款.
        carried = ReconciliationItem.objects.filter(
            report__provider=provider, state=State.CARRIED, report__bill_date__lt=day
        ).select_related("report")
        for item in carried:
            key = item.out_refund_no or item.out_trade_no
            if key in matched_keys:
                ReconciliationItem.objects.filter(pk=item.pk, state=State.CARRIED).update(
                    state=State.RESOLVED,
                    resolved_at=now,
                    note=f"已在 {day.isoformat()} 账单中匹配（跨日）",
                )
                report_refresh_status(item.report_id)
        # Carried long enough: declared 短款 now.
        declared = list(
            carried.filter(
                state=State.CARRIED, report__bill_date__lte=day - dt.timedelta(days=carry)
            )
        )
        for item in declared:
            ReconciliationItem.objects.filter(pk=item.pk, state=State.CARRIED).update(
                state=State.OPEN, note=f"{carry} 日内未出现在渠道账单中"
            )
            report_refresh_status(item.report_id)

        new_items = _items_write(report, found, now=now)
        totals = _totals(bill, local_orders, local_refunds)
        totals.update(
            matched=len(matched_keys),
            cross_day=cross_day,
            discrepancies=sum(1 for f in found if f.state == State.OPEN),
            carried=sum(1 for f in found if f.state == State.CARRIED),
        )
        report.totals = totals
        report.file_hash = bill.file_hash
        report.error = note[:300]
        report.attempts += 1
        report.fetched_at = now
        report.status = RStatus.PENDING  # set from the items below
        report.save(
            update_fields=["totals", "file_hash", "error", "attempts", "fetched_at", "status"]
        )
        report_refresh_status(report.pk)
    from heatdesk.payments.services.reconciliation_repair import items_repair

    items_repair([*new_items, *declared])
    report.refresh_from_db()
    return report


def _items_write(
    report: ReconciliationReport, found: list[_Found], *, now: dt.datetime
) -> list[ReconciliationItem]:
    """Upsert this run's discrepancies into the report; close live items that now match.
    Returns the items that are new or still open (for the repair pass)."""
    existing = {
        (i.kind, i.out_trade_no, i.out_refund_no): i
        for i in report.items.filter(state__in=LIVE_STATES)
    }
    settled_keys = set(
        report.items.exclude(state__in=LIVE_STATES).values_list(
            "kind", "out_trade_no", "out_refund_no"
        )
    )
    seen = {f.key for f in found}
    for key, live in existing.items():
        if key not in seen:
            ReconciliationItem.objects.filter(pk=live.pk, state__in=LIVE_STATES).update(
                state=State.RESOLVED, resolved_at=now, note="重新对账后已匹配"
            )
    touched: list[ReconciliationItem] = []
    for f in found:
        if f.key in settled_keys and f.key not in existing:
            continue  # repaired or resolved by a person on an earlier run: not reopened
        found_item = existing.get(f.key)
        if found_item is None:
            item = ReconciliationItem.objects.create(
                report=report,
                kind=f.kind,
                state=f.state,
                out_trade_no=f.out_trade_no,
                transaction_id=f.transaction_id,
                out_refund_no=f.out_refund_no,
                provider_fen=f.provider_fen,
                local_fen=f.local_fen,
                order=f.order,
                refund=f.refund,
                detail=f.detail,
            )
        else:
            item = found_item
            item.provider_fen, item.local_fen, item.detail = f.provider_fen, f.local_fen, f.detail
            item.order, item.refund = f.order, f.refund
            item.save(update_fields=["provider_fen", "local_fen", "detail", "order", "refund"])
        touched.append(item)
    return touched


def _totals(
    bill: ChannelBill, local_orders: list[PaymentOrder], local_refunds: list[Refund]
) -> dict[str, Any]:
    payments = [r for r in bill.rows if r.kind == PAYMENT]
    refunds = [r for r in bill.rows if r.kind == REFUND]
    by_channel: dict[str, dict[str, int]] = {}
    for order in local_orders:
        entry = by_channel.setdefault(order.channel, {"payments": 0, "paid_fen": 0})
        entry["payments"] += 1
        entry["paid_fen"] += order.paid_fen if order.paid_fen is not None else order.amount_fen
    return {
        "provider": {
            "payments": len(payments),
            "paid_fen": sum(r.fen for r in payments),
            "refunds": len(refunds),
            "refund_fen": sum(r.fen for r in refunds),
        },
        "local": {
            "payments": len(local_orders),
            "paid_fen": sum(
                o.paid_fen if o.paid_fen is not None else o.amount_fen for o in local_orders
            ),
            "refunds": len(local_refunds),
            "refund_fen": sum(r.amount_fen for r in local_refunds),
            "by_channel": by_channel,
        },
        "summary": bill.summary,
    }
