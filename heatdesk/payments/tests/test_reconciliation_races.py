"""Reconciliation and the janitor run twice at the same moment (separate processes, one
database): one report with each discrepancy once, and each due order asked about once."""

import datetime as dt
from typing import Any

import pytest
import time_machine

from heatdesk.billing.tests.processes import in_processes
from heatdesk.core import clock
from heatdesk.core.clock import SHANGHAI
from heatdesk.payments.models import (
    CounterShift,
    PaymentAlert,
    PaymentOrder,
    ReconciliationItem,
    ReconciliationReport,
    Refund,
)
from heatdesk.testing import make_house, make_staff

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=SHANGHAI)
DEAD_URL = "http://127.0.0.1:9/sandbox/wechatpay"  # nothing listens: every query errors


def _reconcile(index: int, barrier: Any) -> tuple[int, str, Any]:
    from heatdesk.payments.services.reconciliation import reconcile_day

    barrier.wait(timeout=60)
    report = reconcile_day(provider="counter", day=DAY)
    return report.pk, report.status, report.totals


def _counter_day_with_two_discrepancies() -> None:
    """A shift closed 100 元 short, and a counter refund marked succeeded without a paying shift
    (as approvals did before payouts existed)."""
    from heatdesk.payments.services.counter import counter_payment_record
    from heatdesk.payments.services.counter_shifts import shift_close, shift_open
    from heatdesk.payments.services.refunds import refund_approve, refund_request

    collector = make_staff("collector-race", "collector")
    finance = make_staff("finance-race", "finance")
    shift = shift_open(collector=collector, opening_float_fen=0)
    order = counter_payment_record(
        collector=collector,
        house=make_house(),
        channel="cash",
        amount_fen=50000,
        idempotency_key="race-1",
    )
    shift_close(shift=shift, counted={"cash": 40000}, note="短款", by=collector)
    refund = refund_request(order=order, amount_fen=20000, reason="多缴退还", by=collector)
    refund_approve(refund=refund, by=finance)
    Refund.objects.filter(pk=refund.pk).update(status="succeeded", succeeded_at=clock.now())


def test_two_reconciliations_of_one_day_at_once_make_one_report_with_each_item_once(
    shared_database,
):
    with time_machine.travel(NOON, tick=True):
        _counter_day_with_two_discrepancies()
        answers = in_processes(_reconcile, [(), (), ()])
    report = ReconciliationReport.objects.get(provider="counter", bill_date=DAY)
    assert ReconciliationReport.objects.count() == 1
    assert {a[0] for a in answers} == {report.pk}
    assert {a[1] for a in answers} == {"discrepant"}
    # every run saw the same day: the same totals
    assert all(a[2] == report.totals for a in answers)
    assert (report.totals["local"]["paid_fen"], report.totals["local"]["refund_fen"]) == (
        50000,
        20000,
    )
    shift_id = CounterShift.objects.get().public_id
    refund_no = Refund.objects.get().out_refund_no
    assert sorted(ReconciliationItem.objects.values_list("out_refund_no", "state")) == sorted(
        [(f"{shift_id}:cash:drawer", "open"), (f"refund:{refund_no}", "open")]
    )
    assert report.attempts == 3


def _janitor(index: int, barrier: Any) -> list[str]:
    from heatdesk.payments.services.janitor import janitor_run

    barrier.wait(timeout=60)
    return janitor_run().checked_orders


def test_two_janitors_at_once_ask_about_each_due_order_once(
    shared_database, payment_settings, settings
):
    from heatdesk.accounts.models import User
    from heatdesk.billing import services as billing
    from heatdesk.billing.tests.factories import make_season, make_tariff
    from heatdesk.estates.models import HouseBinding
    from heatdesk.payments.services.orders import order_create, order_prepare

    settings.PAYMENTS_JANITOR_BACKOFF_SECONDS = [10, 30, 60]
    payment_settings.WECHATPAY_BASE_URL = DEAD_URL
    payer = User.objects.create_user(username="payer-race")
    with time_machine.travel(NOON, tick=True):
        season = make_season()
        make_tariff(season)
        numbers = []
        for n in range(6):
            house = make_house()
            HouseBinding.objects.create(user=payer, house=house, relation="owner")
            bill = billing.bill_issue(house=house, season=season, issued_by=None)
            order = order_create(
                payer=payer, channel="wechat_native", bills=[bill], idempotency_key=f"j-{n}"
            )
            # the provider cannot be reached: the order's fate is unknown and watched
            assert order_prepare(order) is None
            numbers.append(order.out_trade_no)
    assert set(PaymentOrder.objects.values_list("status", flat=True)) <= {"unknown", "created"}
    with time_machine.travel(NOON + dt.timedelta(seconds=15), tick=True):
        answers = in_processes(_janitor, [(), ()])
    checked = [no for answer in answers for no in answer]
    assert sorted(checked) == sorted(numbers)  # each order by exactly one janitor
    rows = PaymentOrder.objects.all()
    assert [r.check_attempts for r in rows] == [1] * 6
    assert all(r.status in ("unknown", "created") and not r.needs_attention for r in rows)
    assert not PaymentAlert.objects.filter(kind=PaymentAlert.Kind.JANITOR_GAVE_UP).exists()
