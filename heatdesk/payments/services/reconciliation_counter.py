"""Counter reconciliation (柜台日结对账): the shifts closed on a Beijing day, each checked twice.

1. What the shift recorded as expected at closing must still equal what its counter payments
   say now (PAID, not voided, less cash refunds, plus the float): a payment voided or settled
   after closing shows up here.
2. What the collector counted must equal what was expected: a drawer difference (长短款) is
   listed per channel with the collector's note.

3. Every refund of a counter payment that succeeded that day must name the one shift that paid
   it out (`Refund.paid_out_shift`, set by `refund_cash_payout`; that shift's expected amount
   for the order's channel is lower by it). A counter refund SUCCEEDED without one left no
   drawer: the money went out unbooked (local = the refund, provider = 0).

All are AMOUNT_MISMATCH items (local = expected, provider = the other side), keyed by shift and
channel (or by refund) so a re-run updates them rather than adding more.
"""

import datetime as dt
from typing import Any

from django.db import transaction

from heatdesk.core import clock
from heatdesk.payments.models import (
    CounterShift,
    PaymentOrder,
    Provider,
    ReconciliationItem,
    ReconciliationReport,
    Refund,
)
from heatdesk.payments.services.reconciliation_status import report_refresh_status

Kind = ReconciliationItem.Kind
State = ReconciliationItem.State


def _fen_map(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


def _shift_findings(shift: CounterShift) -> list[dict[str, Any]]:
    from heatdesk.payments.counter_selectors import COUNTER_CHANNEL_ORDER, shift_expected

    recorded = _fen_map(shift.expected)
    counted = _fen_map(shift.counted)
    now_expected = shift_expected(shift=shift)
    found = []
    for channel in COUNTER_CHANNEL_ORDER:
        exp, cnt, calc = recorded.get(channel, 0), counted.get(channel, 0), now_expected[channel]
        if calc != exp:
            found.append(
                {
                    "key": f"{shift.public_id}:{channel}:payments",
                    "provider_fen": calc,
                    "local_fen": exp,
                    "detail": {
                        "shift": shift.public_id,
                        "channel": channel,
                        "check": "payments",
                        "message": "结班应收与当前收费记录不符（结班后有作废或补记）",
                    },
                }
            )
        if cnt != exp:
            found.append(
                {
                    "key": f"{shift.public_id}:{channel}:drawer",
                    "provider_fen": cnt,
                    "local_fen": exp,
                    "detail": {
                        "shift": shift.public_id,
                        "channel": channel,
                        "check": "drawer",
                        "difference_fen": cnt - exp,
                        "collector": shift.collector.username,
                        "note": shift.note,
                        "message": "长款" if cnt > exp else "短款",
                    },
                }
            )
    return found


def _refund_findings(
    start: dt.datetime, end: dt.datetime
) -> tuple[list[Refund], list[dict[str, Any]]]:
    """Counter refunds that succeeded in [start, end), and those no shift paid out."""
    refunds = list(
        Refund.objects.filter(
            order__provider=Provider.COUNTER,
            status=Refund.Status.SUCCEEDED,
            succeeded_at__gte=start,
            succeeded_at__lt=end,
        )
        .select_related("order")
        .order_by("succeeded_at", "pk")
    )
    found = [
        {
            "key": f"refund:{refund.out_refund_no}",
            "provider_fen": 0,
            "local_fen": refund.amount_fen,
            "out_trade_no": refund.order.out_trade_no,
            "order": refund.order,
            "refund": refund,
            "detail": {
                "check": "refund",
                "out_refund_no": refund.out_refund_no,
                "channel": refund.order.channel,
                "message": "柜台退款已退款但没有付款班次，资金去向需核实",
            },
        }
        for refund in refunds
        if refund.paid_out_shift_id is None
    ]
    return refunds, found


def counter_reconcile_day(*, day: dt.date, by: Any = None) -> ReconciliationReport:
    """Reconcile the counter shifts closed on `day` (Beijing); see the module docstring."""
    start = clock.local_day_start(day)
    end = clock.local_day_start(day + dt.timedelta(days=1))
    report, _ = ReconciliationReport.objects.get_or_create(provider=Provider.COUNTER, bill_date=day)
    shifts = list(
        CounterShift.objects.filter(
            status=CounterShift.Status.CLOSED, closed_at__gte=start, closed_at__lt=end
        )
        .select_related("collector")
        .order_by("closed_at", "pk")
    )
    findings = [f for shift in shifts for f in _shift_findings(shift)]
    refunds, refund_findings = _refund_findings(start, end)
    findings += refund_findings
    orders = PaymentOrder.objects.filter(shift__in=shifts, provider=Provider.COUNTER)
    paid = [o for o in orders if o.status == PaymentOrder.Status.PAID]
    now = clock.now()
    with transaction.atomic():
        report = ReconciliationReport.objects.select_for_update().get(pk=report.pk)
        live = {i.out_refund_no: i for i in report.items.filter(state__in=(State.OPEN,))}
        closed_keys = set(
            report.items.exclude(state=State.OPEN).values_list("out_refund_no", flat=True)
        )
        keys = {f["key"] for f in findings}
        for key, item in live.items():
            if key not in keys:
                ReconciliationItem.objects.filter(pk=item.pk, state=State.OPEN).update(
                    state=State.RESOLVED, resolved_at=now, note="重新对账后已一致"
                )
        for f in findings:
            if f["key"] in closed_keys and f["key"] not in live:
                continue
            values = {
                "provider_fen": f["provider_fen"],
                "local_fen": f["local_fen"],
                "detail": f["detail"],
            }
            if f["key"] in live:
                ReconciliationItem.objects.filter(pk=live[f["key"]].pk).update(**values)
            else:
                # The item's key lives in out_refund_no: counter items have no provider number.
                ReconciliationItem.objects.create(
                    report=report,
                    kind=Kind.AMOUNT_MISMATCH,
                    out_refund_no=f["key"],
                    out_trade_no=f.get("out_trade_no", ""),
                    order=f.get("order"),
                    refund=f.get("refund"),
                    **values,
                )
        by_channel: dict[str, dict[str, int]] = {}
        for order in paid:
            entry = by_channel.setdefault(order.channel, {"payments": 0, "paid_fen": 0})
            entry["payments"] += 1
            entry["paid_fen"] += order.paid_fen or 0
        report.totals = {
            "local": {
                "payments": len(paid),
                "paid_fen": sum(o.paid_fen or 0 for o in paid),
                "voided": sum(1 for o in orders if o.status == PaymentOrder.Status.VOIDED),
                "refunds": len(refunds),
                "refund_fen": sum(r.amount_fen for r in refunds),
                "by_channel": by_channel,
            },
            "shifts": [
                {
                    "shift": s.public_id,
                    "collector": s.collector.username,
                    "expected": _fen_map(s.expected),
                    "counted": _fen_map(s.counted),
                    "difference_fen": s.difference_fen,
                }
                for s in shifts
            ],
            "provider": {"counted_fen": sum(sum(_fen_map(s.counted).values()) for s in shifts)},
            "discrepancies": len(findings),
        }
        report.attempts += 1
        report.fetched_at = now
        report.error = ""
        report.status = ReconciliationReport.Status.PENDING
        report.save(update_fields=["totals", "attempts", "fetched_at", "error", "status"])
        report_refresh_status(report.pk)
    report.refresh_from_db()
    return report
