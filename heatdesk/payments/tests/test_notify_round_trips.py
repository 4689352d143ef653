"""A settled payment notify costs a fixed number of SQL statements (each one a round trip to
the database, all sequential): pinned here so the notify-settle path cannot silently grow.

In the test the outer transaction's SAVEPOINT / RELEASE stand where production has BEGIN /
COMMIT, so the captured count equals production's round trips (bench/README.md, notify-settle).
On PostgreSQL the common case is one statement that commits on its own in production.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heatdesk.audit.models import AuditEntry
from heatdesk.billing.models import Allocation
from heatdesk.payments.models import PaymentOrder, ProviderNotify
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.tests.notify_support import post_wechat, wechat_notify
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]

# SQLite, the Python path: 13 statements + BEGIN/COMMIT (27 + 2 before the round-trip work,
# then 18 + 2): the notify and the ledger entry are INSERT … ON CONFLICT DO NOTHING (no
# savepoints), and the order's compare-and-set UPDATE is also its lock (no read first).
# PostgreSQL (15 before): one statement, `payments_notify_settle`, in autocommit — no BEGIN or
# COMMIT of its own (services/notify_settle_sql.py).
NOTIFY_SETTLE_ROUND_TRIPS = {"sqlite": 15, "postgresql": 1}
# A redelivery: the refused INSERT of the notify and the order's amount check in a transaction
# (SQLite); the same statement, which finds the event stored (PostgreSQL).
REDELIVERY_ROUND_TRIPS = {"sqlite": 4, "postgresql": 1}


def test_one_settled_wechat_notify_costs_at_most_the_pinned_round_trips(bills, resident, house_a):
    # given
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="rt-1"
    )
    headers, body = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RT-1")

    # when
    with CaptureQueriesContext(connection) as queries:
        answer = post_wechat(headers, body)

    # then
    assert (answer.status_code, answer.content) == (200, b"")
    assert len(queries.captured_queries) <= NOTIFY_SETTLE_ROUND_TRIPS[connection.vendor], "\n".join(
        q["sql"][:160] for q in queries.captured_queries
    )
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == (PaymentOrder.Status.PAID, BILL_FEN)
    assert bill_status(bills[0]) == ("paid", BILL_FEN)
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert list(Allocation.objects.values_list("bill_id", "amount_fen")) == [
        (bills[0].pk, BILL_FEN)
    ]
    assert ProviderNotify.objects.get().outcome == ProviderNotify.Outcome.APPLIED
    assert AuditEntry.objects.filter(action="billing.payment_post").count() == 1


def test_a_redelivered_notify_costs_fewer_round_trips_and_changes_nothing(bills, resident, house_a):
    # given
    order = order_create(
        payer=resident, channel="wechat_native", bills=[bills[0]], idempotency_key="rt-2"
    )
    headers, body = wechat_notify(order.out_trade_no, total=BILL_FEN, event_id="EV-RT-2")
    assert post_wechat(headers, body).status_code == 200

    # when
    with CaptureQueriesContext(connection) as queries:
        answer = post_wechat(headers, body)

    # then
    assert answer.status_code == 200
    # no lock, no settlement
    assert len(queries.captured_queries) <= REDELIVERY_ROUND_TRIPS[connection.vendor]
    assert payments_of(house_a) == [(-BILL_FEN, order.out_trade_no)]
    assert Allocation.objects.count() == 1
    assert ProviderNotify.objects.count() == 1
    assert AuditEntry.objects.filter(action="billing.payment_post").count() == 1
