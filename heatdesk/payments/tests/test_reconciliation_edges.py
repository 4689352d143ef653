"""Reconciliation edges: the midnight carry-over, Alipay's bill (GBK ZIP, expiring URL,
BILL_NOT_EXIST), the management command and the counter's shifts."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from heatdesk.payments.models import PaymentOrder, ReconciliationItem, ReconciliationReport
from heatdesk.payments.providers.alipay_client import AlipayClient
from heatdesk.payments.providers.config import alipay_config
from heatdesk.payments.services.reconciliation import reconcile_day
from heatdesk.payments.tests.reconciliation_support import *  # noqa: F403 - fixtures
from heatdesk.payments.tests.reconciliation_support import (
    FEN,
    beijing,
    ledger_payments,
    paid_order,
)
from heatdesk.sandbox.payment_knobs import knobs_set

pytestmark = pytest.mark.django_db(transaction=True)

D1 = dt.date(2026, 11, 23)
D2 = dt.date(2026, 11, 24)
D3 = dt.date(2026, 11, 25)
State = ReconciliationItem.State


def morning_after(day):
    after = day + dt.timedelta(days=1)
    return time_machine.travel(beijing(after.year, after.month, after.day, 10, 30), tick=True)


def test_a_payment_booked_before_midnight_but_billed_the_next_day_is_carried_not_flagged(
    sims, resident, season, tariff
):
    # given a day with one ordinary payment, and a payment the provider dates 00:00:30 on D2
    # while we booked it 23:59:50 on D1
    with time_machine.travel(beijing(2026, 11, 23, 12, 0), tick=True):
        paid_order(payer=resident, season=season)
    with time_machine.travel(beijing(2026, 11, 24, 0, 0, 30), tick=True):
        order = paid_order(payer=resident, season=season)
    PaymentOrder.objects.filter(pk=order.pk).update(paid_at=beijing(2026, 11, 23, 23, 59, 50))
    # when D1 is reconciled, our payment is not in D1's bill: carried, the day still balances
    with morning_after(D1):
        first = reconcile_day(provider="wechatpay", day=D1)
    [item] = first.items.all()
    assert (item.kind, item.state, item.out_trade_no) == (
        "local_only",
        "carried",
        order.out_trade_no,
    )
    assert first.status == ReconciliationReport.Status.BALANCED
    assert first.totals["carried"] == 1
    assert PaymentOrder.objects.get(pk=order.pk).needs_attention is False
    # then D2's bill has it: matched across the day, and the carried item is closed
    with morning_after(D2):
        second = reconcile_day(provider="wechatpay", day=D2)
    assert second.items.count() == 0
    assert second.totals["cross_day"] == [order.out_trade_no]
    item.refresh_from_db()
    assert item.state == State.RESOLVED
    assert "跨日" in item.note
    assert ReconciliationReport.objects.get(pk=first.pk).status == "balanced"
    assert ledger_payments(order) == [("wechatpay", -FEN)]


def test_a_carried_payment_never_billed_is_declared_after_the_carry_days(
    sims, resident, season, tariff
):
    with time_machine.travel(beijing(2026, 11, 23, 23, 59, 40), tick=True):
        order = paid_order(payer=resident, season=season)
    knobs_set(bill={"omit": [order.out_trade_no]})
    with morning_after(D1):
        first = reconcile_day(provider="wechatpay", day=D1)
    # no trades at all that day but our payment: the bill is awaited (PENDING), then after the
    # carry days reconciled against nothing
    assert first.status == ReconciliationReport.Status.PENDING
    with morning_after(D3 + dt.timedelta(days=1)):
        late = reconcile_day(provider="wechatpay", day=D1)
    [item] = late.items.all()
    assert (item.kind, item.state) == ("local_only", "carried")
    with morning_after(D3):
        reconcile_day(provider="wechatpay", day=D3)
    item.refresh_from_db()
    assert item.state == State.OPEN
    assert ReconciliationReport.objects.get(pk=late.pk).status == "discrepant"
    fresh = PaymentOrder.objects.get(pk=order.pk)
    assert (fresh.status, fresh.needs_attention) == ("paid", False)  # provider says SUCCESS
    assert item.detail["provider_state"] == "SUCCESS"


class SlowNetworkAlipayClient(AlipayClient):
    """Our real client on a network so slow that the first download URL has expired (the
    simulator's URL lives 30 seconds) by the time the download starts."""

    def __init__(self, *args, traveller, **kwargs):
        super().__init__(*args, **kwargs)
        self.traveller = traveller
        self.downloads = 0

    def download_bill(self, url):
        self.downloads += 1
        if self.downloads == 1:
            self.traveller.shift(dt.timedelta(seconds=31))
        return super().download_bill(url)


def test_alipay_bill_matches_after_a_fresh_url_when_the_first_expired(
    sims, resident, season, tariff
):
    with time_machine.travel(beijing(2026, 11, 23, 12, 0), tick=True):
        order = paid_order(payer=resident, season=season, channel="alipay_precreate")
    with time_machine.travel(beijing(2026, 11, 24, 10, 0), tick=True) as traveller:
        client = SlowNetworkAlipayClient(alipay_config(), traveller=traveller)
        report = reconcile_day(provider="alipay", day=D1, client=client)
    assert client.downloads == 2
    assert report.status == ReconciliationReport.Status.BALANCED
    assert report.totals["provider"] == {
        "payments": 1,
        "paid_fen": FEN,
        "refunds": 0,
        "refund_fen": 0,
    }
    assert ledger_payments(order) == [("alipay", -FEN)]


def test_alipay_bill_not_exist_waits_and_the_command_reconciles_later(
    sims, resident, season, tariff
):
    with time_machine.travel(beijing(2026, 11, 23, 12, 0), tick=True):
        order = paid_order(payer=resident, season=season, channel="alipay_precreate")
        out = io.StringIO()
        call_command("reconcile", "--provider", "alipay", "--date", "2026-11-23", stdout=out)
    assert "pending" in out.getvalue()
    report = ReconciliationReport.objects.get(provider="alipay", bill_date=D1)
    assert "bill_not_exist" in report.error
    knobs_set(bill={"amount": {order.out_trade_no: FEN + 100}})
    with morning_after(D1):
        out = io.StringIO()
        call_command("reconcile", "--provider", "alipay", "--date", "2026-11-23", stdout=out)
    assert "discrepant (1 open items)" in out.getvalue()
    [item] = ReconciliationReport.objects.get(pk=report.pk).items.all()
    assert (item.kind, item.provider_fen, item.local_fen) == ("amount_mismatch", FEN + 100, FEN)
