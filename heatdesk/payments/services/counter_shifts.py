"""Collector shifts (收费班次): open one with a cash float, close it against what was counted.

Closing locks the shift row, so a counter payment either lands before the close (and is in the
expected totals) or, waiting on the same lock, finds the shift closed and is refused. A closed
shift takes no more payments and its payments can no longer be voided (a refund is the way).
"""

from typing import Any

from django.db import IntegrityError, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.services.ledger import MAX_PAYMENT_FEN
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, PermissionDenied, ValidationFailed
from heatdesk.core.money import format_fen
from heatdesk.payments.counter_selectors import COUNTER_CHANNEL_ORDER, shift_expected
from heatdesk.payments.models import CounterShift, PaymentAlert, Provider
from heatdesk.payments.services.alerts import alert_raise

TAKE = "payments.take_counter_payment"
SUPERVISE = "payments.void_counter_payment"
NOTE_MAX = 300


def _fen_field(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed(
            "金额须为非负整数（分）。", fields={name: ["金额须为非负整数（分）。"]}
        )
    if value > MAX_PAYMENT_FEN:
        raise ValidationFailed("金额过大，请核对。", fields={name: ["金额过大，请核对。"]})
    return value


def shift_open(*, collector: User, opening_float_fen: int = 0) -> CounterShift:
    """Open the collector's shift with the cash float in the drawer; one open shift each."""
    if not collector.has_perm(TAKE):
        raise PermissionDenied("没有柜台收费权限。", code="forbidden")
    opening_float_fen = _fen_field(opening_float_fen, "opening_float_fen")
    try:
        with transaction.atomic():
            shift = CounterShift.objects.create(
                collector=collector, opening_float_fen=opening_float_fen
            )
            audit_record(
                actor=collector,
                action="payments.shift_open",
                obj=shift,
                after={"opening_float_fen": opening_float_fen},
            )
    except IntegrityError:
        # The one-open-shift constraint refused it: this collector already has a shift open.
        raise Conflict("您已有未结班的班次，请先结班。", code="shift_already_open") from None
    return shift


def _counted(counted: Any) -> dict[str, int]:
    if not isinstance(counted, dict):
        raise ValidationFailed("请按收费方式填写实点金额。", fields={"counted": ["格式不正确。"]})
    unknown = sorted(set(counted) - set(COUNTER_CHANNEL_ORDER))
    if unknown:
        raise ValidationFailed(
            "实点金额中有不支持的收费方式。",
            fields={
                "counted": [
                    f"可选：{', '.join(COUNTER_CHANNEL_ORDER)}；不支持：{', '.join(unknown)}"
                ]
            },
        )
    return {
        channel: _fen_field(counted.get(channel, 0), f"counted.{channel}")
        for channel in COUNTER_CHANNEL_ORDER
    }


def shift_close(
    *, shift: CounterShift, counted: dict[str, int], note: str = "", by: User
) -> CounterShift:
    """Close the shift: record what the system expects per channel and what was counted.

    Any difference needs a note and raises a SHIFT_DIFFERENCE alert for finance. Closed by its
    collector, or by a supervisor when the collector cannot. OPEN → CLOSED by compare-and-set.
    """
    if by.pk != shift.collector_id and not by.has_perm(SUPERVISE):
        raise PermissionDenied("只能结自己的班次（或由主管代结）。", code="forbidden")
    counts = _counted(counted)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed("说明过长。", fields={"note": [f"最多 {NOTE_MAX} 个字。"]})
    with transaction.atomic():
        row = CounterShift.objects.select_for_update().select_related("collector").get(pk=shift.pk)
        if row.status != CounterShift.Status.OPEN:
            raise Conflict("该班次已结班。", code="shift_closed")
        now = clock.now()
        expected = shift_expected(shift=row)
        differences = {c: counts[c] - expected[c] for c in COUNTER_CHANNEL_ORDER}
        difference = sum(differences.values())
        uneven = any(differences.values())
        if uneven and not note:
            raise ValidationFailed(
                "实点与应收不符，请填写差额说明。", fields={"note": ["有差额时须填写说明。"]}
            )
        moved = CounterShift.objects.filter(pk=row.pk, status=CounterShift.Status.OPEN).update(
            status=CounterShift.Status.CLOSED,
            closed_at=now,
            expected=expected,
            counted=counts,
            difference_fen=difference,
            note=note,
        )
        if not moved:
            # Unreachable while we hold the row lock; kept as the compare-and-set's guard.
            raise Conflict("该班次已结班。", code="shift_closed")
        if uneven:
            words = "长款" if difference > 0 else "短款" if difference < 0 else "分项不符"
            alert_raise(
                kind=PaymentAlert.Kind.SHIFT_DIFFERENCE,
                message=(
                    f"收费员 {row.collector.username} 班次 {row.public_id} {words}"
                    f" {format_fen(abs(difference))}：{note}"
                ),
                provider=Provider.COUNTER,
                detail={
                    "shift": row.public_id,
                    "expected": expected,
                    "counted": counts,
                    "differences": differences,
                },
            )
        row.refresh_from_db()
        audit_record(
            actor=by,
            action="payments.shift_close",
            obj=row,
            before={"status": CounterShift.Status.OPEN},
            after={
                "status": row.status,
                "expected": expected,
                "counted": counts,
                "difference_fen": difference,
            },
            reason=note,
        )
    return row
