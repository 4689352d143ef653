"""Counter reconciliation (柜台日结) of a day with real closed shifts: a balanced day, a drawer
difference, a payment voided while its shift was open, refunds paid out of exactly one shift,
and a counter refund that succeeded without a paying shift."""

# ruff: noqa: F811 - pytest fixtures imported from counter_support

import datetime as dt

import pytest

from heatdesk.accounts.roles import ROLE_COLLECTOR
from heatdesk.core import clock
from heatdesk.core.errors import Conflict
from heatdesk.payments.models import (
    CounterShift,
    ReconciliationItem,
    ReconciliationReport,
    Refund,
)
from heatdesk.payments.services.counter import counter_payment_record, counter_payment_void
from heatdesk.payments.services.counter_shifts import shift_close, shift_open
from heatdesk.payments.services.reconciliation import reconcile_day
from heatdesk.payments.services.reconciliation_review import reconciliation_item_resolve
from heatdesk.payments.services.refunds import (
    refund_approve,
    refund_cash_payout,
    refund_request,
)
from heatdesk.payments.tests.counter_support import (  # noqa: F401 - fixtures
    BILL,
    bill,
    on_nov_20,
    shift,
)
from heatdesk.testing import make_staff

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)
FLOAT = 50000


def take(collector, house, key, **kwargs):
    kwargs.setdefault("channel", "cash")
    return counter_payment_record(collector=collector, house=house, idempotency_key=key, **kwargs)


def items(report):
    return list(
        ReconciliationItem.objects.filter(report=report)
        .order_by("pk")
        .values_list("kind", "state", "out_refund_no", "provider_fen", "local_fen")
    )


def test_a_day_of_balanced_shifts_balances(collector, house_a, house_b, bill, shift):
    take(collector, house_a, "k1", bills=[bill])
    take(collector, house_b, "k2", channel="pos", amount_fen=30000, reference="POS-1")
    shift_close(shift=shift, counted={"cash": FLOAT + BILL, "pos": 30000}, by=collector)

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.BALANCED
    assert items(report) == []
    local = report.totals["local"]
    assert (local["payments"], local["paid_fen"], local["voided"]) == (2, BILL + 30000, 0)
    assert local["by_channel"] == {
        "cash": {"payments": 1, "paid_fen": BILL},
        "pos": {"payments": 1, "paid_fen": 30000},
    }
    assert (local["refunds"], local["refund_fen"]) == (0, 0)
    [row] = report.totals["shifts"]
    assert (row["shift"], row["difference_fen"]) == (shift.public_id, 0)
    assert report.totals["provider"]["counted_fen"] == FLOAT + BILL + 30000
    assert report.totals["discrepancies"] == 0


def test_a_drawer_short_of_cash_is_listed_until_finance_resolves_it(
    collector, finance, house_a, bill, shift
):
    take(collector, house_a, "k1", bills=[bill])
    shift_close(shift=shift, counted={"cash": FLOAT + BILL - 10000}, note="找零差错", by=collector)

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.DISCREPANT
    key = f"{shift.public_id}:cash:drawer"
    assert items(report) == [("amount_mismatch", "open", key, FLOAT + BILL - 10000, FLOAT + BILL)]
    item = ReconciliationItem.objects.get(report=report)
    assert (item.detail["difference_fen"], item.detail["message"]) == (-10000, "短款")
    assert (item.detail["collector"], item.detail["note"]) == (collector.username, "找零差错")
    assert report.totals["discrepancies"] == 1
    # a re-run updates the same item rather than adding one
    assert len(items(reconcile_day(provider="counter", day=DAY))) == 1
    # resolved by finance, the day is resolved, and a re-run does not reopen it
    reconciliation_item_resolve(item=item, by=finance, note="收费员已补齐 100 元")
    again = reconcile_day(provider="counter", day=DAY)
    assert again.status == ReconciliationReport.Status.RESOLVED
    assert items(again) == [
        ("amount_mismatch", "resolved", key, FLOAT + BILL - 10000, FLOAT + BILL)
    ]


def test_a_payment_voided_in_its_open_shift_leaves_the_day_balanced_and_a_late_void_is_refused(
    collector, finance, house_a, house_b, bill, shift
):
    voided = take(collector, house_a, "k1", bills=[bill])
    counter_payment_void(order=voided, supervisor=finance, reason="重复录入")
    kept = take(collector, house_b, "k2", amount_fen=20000)
    shift_close(shift=shift, counted={"cash": FLOAT + 20000}, by=collector)

    report = reconcile_day(provider="counter", day=DAY)
    assert report.status == ReconciliationReport.Status.BALANCED
    local = report.totals["local"]
    assert (local["payments"], local["paid_fen"], local["voided"]) == (1, 20000, 1)
    # after the close a void is refused: the closed shift's expected cannot change under it
    with pytest.raises(Conflict):
        counter_payment_void(order=kept, supervisor=finance, reason="晚了")
    again = reconcile_day(provider="counter", day=DAY)
    assert again.status == ReconciliationReport.Status.BALANCED
    assert again.totals["local"]["voided"] == 1
    assert items(again) == []


def test_a_refund_approved_after_the_close_waits_and_is_paid_out_of_the_next_shift(
    collector, agent, finance, house_b, shift
):
    order = take(collector, house_b, "k1", amount_fen=50000)
    shift_close(shift=shift, counted={"cash": FLOAT + 50000}, by=collector)
    # when: finance approves after the close (an agent asked); no drawer has paid anything out
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=agent)
    refund_approve(refund=refund, by=finance)
    waiting = reconcile_day(provider="counter", day=DAY)
    assert waiting.status == ReconciliationReport.Status.BALANCED
    assert (waiting.totals["local"]["refunds"], items(waiting)) == (0, [])
    # then: the next shift pays it out and its drawer is 200 元 lower
    later = shift_open(collector=collector, opening_float_fen=FLOAT)
    refund_cash_payout(refund=refund, collector=collector)
    closed = shift_close(shift=later, counted={"cash": FLOAT - 20000}, by=collector)
    assert closed.expected["cash"] == FLOAT - 20000
    # the first shift is untouched: its drawer was counted before the refund
    assert CounterShift.objects.get(pk=shift.pk).expected["cash"] == FLOAT + 50000

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.BALANCED
    assert items(report) == []
    assert len(report.totals["shifts"]) == 2
    assert (report.totals["local"]["refunds"], report.totals["local"]["refund_fen"]) == (1, 20000)


def test_a_refund_paid_out_by_another_collector_lowers_only_that_drawer(
    finance, collector, house_b, shift
):
    # given: collector 1 took the payment; collector 2, also on shift, pays its refund out
    other = make_staff("collector2", ROLE_COLLECTOR)
    order = take(collector, house_b, "k1", amount_fen=50000)
    other_shift = shift_open(collector=other, opening_float_fen=FLOAT)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=collector)
    refund_approve(refund=refund, by=finance)
    refund_cash_payout(refund=refund, collector=other)
    mine = shift_close(shift=shift, counted={"cash": FLOAT + 50000}, by=collector)
    theirs = shift_close(shift=other_shift, counted={"cash": FLOAT - 20000}, by=other)
    assert (mine.expected["cash"], theirs.expected["cash"]) == (FLOAT + 50000, FLOAT - 20000)

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.BALANCED
    assert items(report) == []


def test_a_counter_refund_succeeded_without_a_paying_shift_is_listed(
    collector, finance, house_b, shift
):
    # given: a refund marked succeeded with no shift, as approvals did before payouts existed
    order = take(collector, house_b, "k1", amount_fen=50000)
    shift_close(shift=shift, counted={"cash": FLOAT + 50000}, by=collector)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=collector)
    refund_approve(refund=refund, by=finance)
    Refund.objects.filter(pk=refund.pk).update(status="succeeded", succeeded_at=clock.now())

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.DISCREPANT
    assert items(report) == [
        ("amount_mismatch", "open", f"refund:{refund.out_refund_no}", 0, 20000)
    ]
    item = ReconciliationItem.objects.get(report=report)
    assert (item.refund_id, item.order_id, item.out_trade_no) == (
        refund.pk,
        order.pk,
        order.out_trade_no,
    )
    assert item.detail["channel"] == "cash"
    assert (report.totals["local"]["refunds"], report.totals["local"]["refund_fen"]) == (1, 20000)


def test_a_recorded_expected_that_no_longer_matches_the_payments_is_listed(
    collector, house_a, bill, shift
):
    take(collector, house_a, "k1", bills=[bill])
    shift_close(shift=shift, counted={"cash": FLOAT + BILL}, by=collector)
    # given: the stored closing figures were altered afterwards (injected: no service does it)
    CounterShift.objects.filter(pk=shift.pk).update(
        expected={"cash": FLOAT + BILL + 500, "pos": 0, "transfer": 0}
    )

    report = reconcile_day(provider="counter", day=DAY)

    assert report.status == ReconciliationReport.Status.DISCREPANT
    assert items(report) == [
        (
            "amount_mismatch",
            "open",
            f"{shift.public_id}:cash:payments",
            FLOAT + BILL,
            FLOAT + BILL + 500,
        ),
        (
            "amount_mismatch",
            "open",
            f"{shift.public_id}:cash:drawer",
            FLOAT + BILL,
            FLOAT + BILL + 500,
        ),
    ]
