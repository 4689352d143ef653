"""Real concurrency at the counter (separate processes, one database): a double click arriving
at the same instant records once, and a shift closing while payments arrive counts each payment
exactly when it was taken in the shift."""

from decimal import Decimal
from typing import Any

import pytest

from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.billing.tests.processes import in_processes
from heatdesk.core.errors import Conflict
from heatdesk.payments.models import CounterShift, PaymentOrder
from heatdesk.testing import make_house, make_staff

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def _take(index: int, barrier: Any, collector_id: int, house_id: int, key: str) -> str:
    from heatdesk.accounts.models import User
    from heatdesk.estates.models import House
    from heatdesk.payments.services.counter import counter_payment_record

    collector, house = User.objects.get(pk=collector_id), House.objects.get(pk=house_id)
    barrier.wait(timeout=60)
    try:
        order = counter_payment_record(
            collector=collector,
            house=house,
            channel="cash",
            amount_fen=10000,
            idempotency_key=key.format(index=index),
        )
    except Conflict as exc:
        return exc.code
    return order.receipt_no


def _close(index: int, barrier: Any, shift_id: int, collector_id: int) -> str:
    from heatdesk.accounts.models import User
    from heatdesk.payments.services.counter_shifts import shift_close

    shift = CounterShift.objects.get(pk=shift_id)
    collector = User.objects.get(pk=collector_id)
    barrier.wait(timeout=60)
    closed = shift_close(shift=shift, counted={"cash": 0}, note="结班竞争测试", by=collector)
    return str(closed.expected["cash"])


def _setup() -> tuple[Any, Any, Any]:
    from heatdesk.billing import services
    from heatdesk.payments.services.counter_shifts import shift_open

    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    house = make_house(building_area=Decimal("89.50"))
    services.bill_issue(house=house, season=season, issued_by=None)
    collector = make_staff("collector-race", "collector")
    shift = shift_open(collector=collector, opening_float_fen=0)
    return house, collector, shift


def test_a_double_click_at_the_same_instant_records_once(shared_database):
    house, collector, _shift = _setup()
    answers = in_processes(_take, [(collector.pk, house.pk, "same-click")] * 6)
    assert len(set(answers)) == 1
    assert PaymentOrder.objects.count() == 1
    assert PaymentOrder.objects.get().receipt_no == answers[0]
    assert LedgerEntry.objects.filter(kind="payment").count() == 1
    assert Bill.objects.get().paid_fen == 10000


def test_payments_racing_the_close_are_either_counted_or_refused(shared_database):
    house, collector, shift = _setup()

    def job(index: int, barrier: Any) -> str:
        if index == 0:
            return "close:" + _close(index, barrier, shift.pk, collector.pk)
        return _take(index, barrier, collector.pk, house.pk, "click-{index}")

    answers = in_processes(job, [()] * 6)
    expected = int(answers[0].split(":")[1])
    taken = [a for a in answers[1:] if a != "no_open_shift"]
    assert set(answers[1:]) - set(taken) <= {"no_open_shift"}
    # Every payment that was taken belongs to the shift and is in its expected cash; no
    # payment landed after the close.
    orders = PaymentOrder.objects.filter(status="paid")
    assert sorted(orders.values_list("receipt_no", flat=True)) == sorted(taken)
    assert all(o.shift_id == shift.pk for o in orders)
    assert expected == 10000 * len(taken)
    row = CounterShift.objects.get(pk=shift.pk)
    assert row.status == "closed"
    assert row.expected["cash"] == expected
    assert Bill.objects.get().paid_fen == 10000 * len(taken)


def _payout(index: int, barrier: Any, refund_id: int, collector_ids: list[int]) -> str:
    from heatdesk.accounts.models import User
    from heatdesk.payments.models import Refund
    from heatdesk.payments.services.refunds import refund_cash_payout

    refund = Refund.objects.select_related("order").get(pk=refund_id)
    collector = User.objects.get(pk=collector_ids[index])
    barrier.wait(timeout=60)
    try:
        paid = refund_cash_payout(refund=refund, collector=collector)
    except Conflict as exc:
        return exc.code
    return f"paid:{paid.paid_out_shift_id}"


def test_two_collectors_paying_out_the_same_refund_one_wins(shared_database):
    from heatdesk.payments.counter_selectors import shift_expected
    from heatdesk.payments.models import Refund
    from heatdesk.payments.services.counter import counter_payment_record
    from heatdesk.payments.services.counter_shifts import shift_open
    from heatdesk.payments.services.refunds import refund_approve, refund_request

    house, collector, shift = _setup()
    other = make_staff("collector-race-2", "collector")
    other_shift = shift_open(collector=other, opening_float_fen=0)
    finance = make_staff("finance-race", "finance")
    order = counter_payment_record(
        collector=collector, house=house, channel="cash", amount_fen=10000, idempotency_key="r"
    )
    # (an agent asks: who asks for a refund may not also pay it out)
    agent = make_staff("agent-race", "agent")
    refund = refund_request(order=order, amount_fen=4000, reason="多缴退还", by=agent)
    refund_approve(refund=refund, by=finance)
    # when: both collectors press "pay out" at the same instant
    answers = in_processes(_payout, [(refund.pk, [collector.pk, other.pk])] * 2)
    # then: one paid it out, the other was refused, and exactly one drawer is lower
    winners = [a for a in answers if a.startswith("paid:")]
    assert len(winners) == 1
    assert [a for a in answers if not a.startswith("paid:")] == ["refund_already_paid_out"]
    row = Refund.objects.get(pk=refund.pk)
    assert row.status == "succeeded"
    assert winners[0] == f"paid:{row.paid_out_shift_id}"
    cash = {s.pk: shift_expected(shift=s)["cash"] for s in (shift, other_shift)}
    lowered = {shift.pk: 10000 - 4000, other_shift.pk: -4000}
    untouched = {shift.pk: 10000, other_shift.pk: 0}
    assert cash == {
        pk: lowered[pk] if pk == row.paid_out_shift_id else untouched[pk] for pk in cash
    }
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert Bill.objects.get().paid_fen == 10000 - 4000
