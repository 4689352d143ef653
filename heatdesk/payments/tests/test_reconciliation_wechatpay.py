"""Daily reconciliation against the WeChat Pay simulator's real trade bills (over HTTP)."""

import datetime as dt

import pytest
import time_machine

from heatdesk.billing.models import Bill
from heatdesk.payments.models import (
    PaymentAlert,
    PaymentOrder,
    ReconciliationItem,
    ReconciliationReport,
    Refund,
)
from heatdesk.payments.providers import wechatpay_client as wx
from heatdesk.payments.providers.config import wechatpay_client
from heatdesk.payments.services.reconciliation import reconcile_day
from heatdesk.payments.tests.reconciliation_support import *  # noqa: F403 - fixtures
from heatdesk.payments.tests.reconciliation_support import (
    FEN,
    beijing,
    bill_of,
    ledger_payments,
    order_for_new_bill,
    paid_order,
    pay_at_cashier,
)
from heatdesk.sandbox.payment_knobs import knobs_set

pytestmark = pytest.mark.django_db(transaction=True)

DAY = dt.date(2026, 11, 23)
Kind = ReconciliationItem.Kind
State = ReconciliationItem.State


def at_noon(day=DAY):
    return time_machine.travel(beijing(day.year, day.month, day.day, 12, 0), tick=True)


def next_morning(day=DAY):
    after = day + dt.timedelta(days=1)
    return time_machine.travel(beijing(after.year, after.month, after.day, 10, 30), tick=True)


def items_of(report):
    return sorted(
        (i.kind, i.state, i.out_trade_no, i.out_refund_no, i.provider_fen, i.local_fen)
        for i in report.items.all()
    )


def test_an_exact_bill_balances_with_zero_discrepancies(sims, resident, season, tariff):
    # given two orders paid and settled on the day
    with at_noon():
        one = paid_order(payer=resident, season=season)
        two = paid_order(payer=resident, season=season)
    # when the next morning's run reconciles the day
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    # then it balances: no items, totals equal on both sides
    assert report.status == ReconciliationReport.Status.BALANCED
    assert report.items.count() == 0
    assert report.totals["provider"] == {
        "payments": 2,
        "paid_fen": 2 * FEN,
        "refunds": 0,
        "refund_fen": 0,
    }
    assert report.totals["local"]["payments"] == 2
    assert report.totals["local"]["paid_fen"] == 2 * FEN
    assert report.totals["matched"] == 2
    assert report.totals["summary"]["count"] == 2
    assert len(report.file_hash) == 40
    # and nothing on the orders or the ledger moved
    for order in (one, two):
        fresh = PaymentOrder.objects.get(pk=order.pk)
        assert (fresh.status, fresh.paid_fen, fresh.needs_attention) == ("paid", FEN, False)
        assert ledger_payments(order) == [("wechatpay", -FEN)]
    assert not PaymentAlert.objects.filter(kind="reconciliation").exists()


def test_a_paid_order_we_show_pending_is_channel_only_and_repaired_by_query(
    sims, resident, season, tariff
):
    # given an order paid at the provider whose notify never reached us (still PENDING here)
    with at_noon():
        lost = order_for_new_bill(payer=resident, season=season)
        pay_at_cashier(lost)
    assert PaymentOrder.objects.get(pk=lost.pk).status == PaymentOrder.Status.PENDING
    assert ledger_payments(lost) == []
    # when the day is reconciled
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    # then the 长款 item is repaired: the order is settled once, onto its bill
    assert items_of(report) == [
        (Kind.CHANNEL_ONLY, State.REPAIRED, lost.out_trade_no, "", FEN, FEN)
    ]
    fresh = PaymentOrder.objects.get(pk=lost.pk)
    assert (fresh.status, fresh.paid_fen) == ("paid", FEN)
    assert ledger_payments(lost) == [("wechatpay", -FEN)]
    assert bill_of(lost).status == Bill.Status.PAID
    assert report.status == ReconciliationReport.Status.BALANCED
    # and a second run changes nothing
    with next_morning():
        again = reconcile_day(provider="wechatpay", day=DAY)
    assert items_of(again) == items_of(report)
    assert ledger_payments(lost) == [("wechatpay", -FEN)]


def test_a_payment_missing_from_the_bill_is_local_only_and_escalated(
    sims, resident, season, tariff
):
    # given a paid order that the provider's bill leaves out (injected 短款)
    with at_noon():
        kept = paid_order(payer=resident, season=season)
        missing = paid_order(payer=resident, season=season)
    knobs_set(bill={"omit": [missing.out_trade_no]})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    # then it is an open LOCAL_ONLY item; the order is queried (the simulator still says
    # SUCCESS) and stays PAID: nothing is reversed
    assert items_of(report) == [(Kind.LOCAL_ONLY, State.OPEN, missing.out_trade_no, "", None, FEN)]
    item = report.items.get()
    assert item.detail["provider_state"] == "SUCCESS"
    assert report.status == ReconciliationReport.Status.DISCREPANT
    assert PaymentOrder.objects.get(pk=missing.pk).status == PaymentOrder.Status.PAID
    assert ledger_payments(missing) == [("wechatpay", -FEN)]
    assert ledger_payments(kept) == [("wechatpay", -FEN)]
    assert PaymentAlert.objects.filter(kind="reconciliation", provider="wechatpay").exists()


def test_a_paid_order_the_provider_never_saw_is_escalated_not_reversed(
    sims, resident, season, tariff
):
    # given an order we show PAID (injected: a forged or mis-verified notify) that the provider
    # never took
    with at_noon():
        paid_order(payer=resident, season=season)
        ghost = order_for_new_bill(payer=resident, season=season)
        from heatdesk.payments.services.settlement import order_settle

        order_settle(order=ghost, transaction_id="4200009999", paid_fen=FEN)
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    # then 短款: the provider says NOTPAY, an alert names the order, the order waits for a person
    item = report.items.get()
    assert (item.kind, item.state, item.out_trade_no) == (
        Kind.LOCAL_ONLY,
        State.OPEN,
        ghost.out_trade_no,
    )
    assert item.detail["provider_state"] == "NOTPAY"
    fresh = PaymentOrder.objects.get(pk=ghost.pk)
    assert (fresh.status, fresh.needs_attention) == ("paid", True)
    assert ledger_payments(ghost) == [("wechatpay", -FEN)]
    assert PaymentAlert.objects.filter(
        kind="reconciliation", out_trade_no=ghost.out_trade_no
    ).exists()


def test_an_amount_that_differs_is_an_amount_mismatch(sims, resident, season, tariff):
    with at_noon():
        order = paid_order(payer=resident, season=season)
    knobs_set(bill={"amount": {order.out_trade_no: FEN - 1}})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert items_of(report) == [
        (Kind.AMOUNT_MISMATCH, State.OPEN, order.out_trade_no, "", FEN - 1, FEN)
    ]
    assert report.status == ReconciliationReport.Status.DISCREPANT
    assert report.totals["provider"]["paid_fen"] == FEN - 1
    assert report.totals["local"]["paid_fen"] == FEN
    assert ledger_payments(order) == [("wechatpay", -FEN)]


def test_a_payment_we_never_heard_of_is_channel_only_and_left_open(sims, resident, season, tariff):
    with at_noon():
        paid_order(payer=resident, season=season)
    knobs_set(bill={"extra": [{"out_trade_no": "HD20261123UNKNOWN0001", "total_fen": 999}]})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert items_of(report) == [
        (Kind.CHANNEL_ONLY, State.OPEN, "HD20261123UNKNOWN0001", "", 999, None)
    ]
    assert "本地无对应" in report.items.get().note
    assert report.status == ReconciliationReport.Status.DISCREPANT


def test_a_refund_row_while_we_show_the_refund_failed_is_a_status_mismatch(
    sims, resident, season, tariff, finance
):
    # given a paid order refunded at the provider, while our refund row says CLOSED
    with at_noon():
        order = paid_order(payer=resident, season=season)
        client = wechatpay_client()
        client.create_refund(
            wx.refund_body(
                client.config,
                out_trade_no=order.out_trade_no,
                out_refund_no="RF20261123000001",
                refund_fen=5000,
                total_fen=FEN,
            )
        )
        refund = Refund.objects.create(
            order=order,
            out_refund_no="RF20261123000001",
            amount_fen=5000,
            reason="多缴退费",
            status=Refund.Status.CLOSED,
            requested_by=finance,
        )
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    # then the refund row is a STATUS_MISMATCH left for a person; the refund is not touched
    assert items_of(report) == [
        (Kind.STATUS_MISMATCH, State.OPEN, order.out_trade_no, refund.out_refund_no, 5000, 5000)
    ]
    assert report.totals["provider"]["refunds"] == 1
    assert report.totals["provider"]["refund_fen"] == 5000
    assert Refund.objects.get(pk=refund.pk).status == Refund.Status.CLOSED


def test_a_summary_that_does_not_add_up_rejects_the_bill(sims, resident, season, tariff):
    with at_noon():
        order = paid_order(payer=resident, season=season)
    knobs_set(bill={"bad_summary": True})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert report.status == ReconciliationReport.Status.FAILED
    assert "汇总" in report.error
    assert report.items.count() == 0
    assert ledger_payments(order) == [("wechatpay", -FEN)]
    assert PaymentAlert.objects.filter(kind="reconciliation", provider="wechatpay").count() == 1


def test_a_bill_whose_sha1_does_not_match_is_rejected_with_no_items(sims, resident, season, tariff):
    with at_noon():
        order = order_for_new_bill(payer=resident, season=season)
        pay_at_cashier(order)  # pending here: a trusted bill would repair it
    knobs_set(bill={"bad_hash": True})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert report.status == ReconciliationReport.Status.FAILED
    assert "SHA-1" in report.error
    assert report.items.count() == 0
    assert PaymentOrder.objects.get(pk=order.pk).status == PaymentOrder.Status.PENDING
    assert ledger_payments(order) == []
    assert PaymentAlert.objects.filter(kind="reconciliation", provider="wechatpay").count() == 1
    # when the genuine file is served, a re-run reconciles the day
    knobs_set(bill=None)
    with next_morning():
        again = reconcile_day(provider="wechatpay", day=DAY)
    assert again.status == ReconciliationReport.Status.BALANCED
    assert items_of(again) == [
        (Kind.CHANNEL_ONLY, State.REPAIRED, order.out_trade_no, "", FEN, FEN)
    ]


def test_a_bill_not_ready_or_a_day_without_trades_stays_pending_and_is_retried(
    sims, resident, season, tariff
):
    # given a payment on the day
    with at_noon():
        order = paid_order(payer=resident, season=season)
    # when reconciled the same day, the bill is still being generated: the report waits
    with at_noon():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert (report.status, report.attempts) == (ReconciliationReport.Status.PENDING, 1)
    assert "STATEMENT_CREATING" in report.error
    # when the provider says the day had no trades although we booked one: it waits too
    knobs_set(bill={"omit": [order.out_trade_no]})
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert (report.status, report.attempts) == (ReconciliationReport.Status.PENDING, 2)
    assert "NO_STATEMENT_EXIST" in report.error
    assert report.items.count() == 0
    assert PaymentOrder.objects.get(pk=order.pk).needs_attention is False
    # then a later run with the bill there reconciles it
    knobs_set(bill=None)
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert (report.status, report.attempts) == (ReconciliationReport.Status.BALANCED, 3)
    assert report.totals["matched"] == 1


def test_a_day_with_no_trades_on_either_side_balances_empty(sims):
    with next_morning():
        report = reconcile_day(provider="wechatpay", day=DAY)
    assert report.status == ReconciliationReport.Status.BALANCED
    assert report.totals["provider"]["payments"] == 0
    assert report.totals["local"]["payments"] == 0
    assert "NO_STATEMENT_EXIST" in report.error
