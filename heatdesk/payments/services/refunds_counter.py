"""Paying a counter refund out (柜台退款付款): finance's approval leaves a counter order's refund
PROCESSING (待柜台付款); the money goes back when a collector hands it over from an open shift.

The refund goes back through the order's own channel: cash from the drawer, a POS payment by a
refund on the terminal, a transfer by a transfer back. Each lowers that channel's expected
amount in exactly one shift, the one recorded as `paid_out_shift`, so the shift's close and the
day's counter reconciliation account for every refund once.

Locks: the collector's shift row first (a close waits for the payout, or the payout finds the
shift closed), then the refund's compare-and-set PROCESSING → SUCCEEDED (two collectors paying
out the same refund: the second finds it no longer PROCESSING and is refused).
"""

from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.core import clock
from heatdesk.core.errors import Conflict, PermissionDenied
from heatdesk.payments.models import CounterShift, Provider, Refund
from heatdesk.payments.services.refunds_apply import _cas, _fresh
from heatdesk.payments.services.refunds_houses import refund_post_to_ledger

Status = Refund.Status
TAKE = "payments.take_counter_payment"


def _not_payable(refund: Refund) -> Conflict:
    if refund.status == Status.SUCCEEDED:
        return Conflict("该退款已付款。", code="refund_already_paid_out")
    if refund.status == Status.REQUESTED:
        return Conflict("该退款尚未经财务审批，不能付款。", code="refund_not_approved")
    return Conflict(
        f"退款状态为“{refund.get_status_display()}”，不能付款。", code="refund_not_payable"
    )


def refund_cash_payout(*, refund: Refund, collector: User) -> Refund:
    """A collector hands an approved counter refund back to the payer from their open shift:
    PROCESSING → SUCCEEDED by compare-and-set, `paid_out_shift` set to that shift, the ledger
    takes the money back off the house(s), audited. Refused with nothing changed: no
    permission, not a counter refund, the collector who requested it (separation of duties),
    not approved yet, already paid out, no open shift."""
    if not collector.has_perm(TAKE):
        raise PermissionDenied("没有柜台收费权限。", code="forbidden")
    if refund.order.provider != Provider.COUNTER:
        raise Conflict("该退款不是柜台缴费的退款，由支付渠道原路退回。", code="refund_not_counter")
    if refund.requested_by_id is not None and refund.requested_by_id == collector.pk:
        # Separation of duties, as for the approval: who asked for the money back does not
        # also hand it over.
        raise Conflict(
            "退款申请人不能为自己申请的退款付款，请由其他收费员办理。",
            code="refund_payout_same_person",
        )
    with transaction.atomic():
        shift = (
            CounterShift.objects.select_for_update()
            .filter(collector=collector, status=CounterShift.Status.OPEN)
            .first()
        )
        if shift is None:
            raise Conflict("请先开班，再办理退款付款。", code="no_open_shift")
        row = _fresh(refund)
        if row.status != Status.PROCESSING:
            raise _not_payable(row)
        now = clock.now()
        moved = _cas(
            row,
            from_statuses={Status.PROCESSING},
            to=Status.SUCCEEDED,
            paid_out_shift=shift,
            succeeded_at=now,
            next_check_at=None,
        )
        if not moved:
            # Another collector paid it out between our read and our update.
            raise _not_payable(_fresh(refund))
        audit_record(
            actor=collector,
            action="payments.refund_payout",
            obj=row,
            before={"status": Status.PROCESSING},
            after={
                "status": Status.SUCCEEDED,
                "amount_fen": row.amount_fen,
                "shift": shift.public_id,
                "channel": row.order.channel,
            },
        )
        refund_post_to_ledger(refund=row, by=collector)
    return _fresh(row)
