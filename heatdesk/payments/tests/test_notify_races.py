"""Duplicates for real: the simulator delivering one notify ten times, and two processes posting
the same notify at the same moment (and two different event ids for one payment): one ledger
entry, every delivery acknowledged. The control test switches the guards off and must see the
payment taken twice."""

import pytest
from django.db import connection
from django.test import Client

from heatdesk.billing.models import LedgerEntry
from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.billing.tests.processes import in_processes
from heatdesk.payments.models import PaymentOrder, ProviderNotify
from heatdesk.payments.services import settlement
from heatdesk.payments.services.orders import order_create, order_prepare
from heatdesk.payments.tests.notify_support import WECHAT_URL, wechat_notify
from heatdesk.payments.tests.orders_support import (
    BILL_FEN,
    bill_status,
    cashier_pay,
    payments_of,
    wait_delivered,
)
from heatdesk.sandbox.courier import SIGNTEST
from heatdesk.sandbox.payment_knobs import knobs_set

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("sim")
def test_the_simulator_delivering_a_notify_ten_times_settles_once(bills, resident, house_a):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="ten"
    )
    knobs_set(out_trade_no=order.out_trade_no, notify_duplicate=9, notify_signtest=True)
    order_prepare(order)
    cashier_pay(order)
    deliveries = wait_delivered(order, count=2)
    by_type = {d.event_type: d for d in deliveries}
    assert by_type[SIGNTEST].last_status == 400  # the probe was refused
    genuine = by_type["TRANSACTION.SUCCESS"]
    assert (genuine.state, genuine.delivered, genuine.last_status) == ("delivered", 10, 200)
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert ProviderNotify.objects.count() == 1
    assert assert_account_consistent(house_a) == 0


def _post(index, barrier, headers, body):
    barrier.wait()
    return (
        Client()
        .post(WECHAT_URL, body, content_type="application/json", headers=headers)
        .status_code
    )


@pytest.mark.usefixtures("payment_settings")
def test_concurrent_duplicates_and_twin_events_settle_once(
    shared_database, bills, resident, house_a
):
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="race"
    )
    same = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RACE")
    twin = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RACE-2")
    answers = in_processes(_post, [same, same, twin, twin])
    assert answers == [200, 200, 200, 200]
    assert PaymentOrder.objects.get(pk=order.pk).status == "paid"
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert sorted(ProviderNotify.objects.values_list("event_id", flat=True)) == [
        "EV-RACE",
        "EV-RACE-2",
    ]
    assert assert_account_consistent(house_a) == 0


@pytest.mark.usefixtures("payment_settings")
def test_control_without_the_guards_the_same_race_pays_twice(
    shared_database, settings, monkeypatch, bills, resident, house_a
):
    # given the same race with both guards against a second settlement switched off: the
    # order's compare-and-set (any status moves) and the ledger's unique source id
    settings.PAYMENTS_SETTLE_IN_DATABASE = False
    monkeypatch.setattr(
        settlement,
        "_PAY_WAITING_SQL",
        settlement._PAY_WAITING_SQL.replace(
            " AND status IN (", " AND (TRUE OR status IN ("
        ).replace(" RETURNING id", ") RETURNING id"),
    )
    constraint = next(c for c in LedgerEntry._meta.constraints if c.name == "ledger_source_unique")
    with connection.schema_editor() as editor:
        editor.remove_constraint(LedgerEntry, constraint)
    try:
        order = order_create(
            payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="race"
        )
        same = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RACE")
        twin = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RACE-2")
        # when
        answers = in_processes(_post, [same, same, twin, twin])
        # then the twin events both take the money
        assert answers == [200, 200, 200, 200]
        assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)] * 2
    finally:
        # Test data only: the second entry must go before the index can come back (the ledger
        # refuses deletes through the ORM, so its test rows go by SQL).
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_allocation")
            cursor.execute("DELETE FROM billing_ledgerentry")
        with connection.schema_editor() as editor:
            editor.add_constraint(LedgerEntry, constraint)
