"""The one-statement settlement of PostgreSQL (services/notify_settle_sql.py) and the Python path
leave the same rows behind.

Each scenario runs twice on the same orders and bills, each time inside a savepoint that is then
rolled back: once with the settlement in the database, once with it switched off (the Python
path, as on SQLite). Every table a notify can touch is compared afterwards — notifies, orders
and their items, alerts, bills and their lines, ledger entries, allocations, audit — with each
table's ids replaced by their rank, since the sequences move on between the runs. On SQLite both
runs take the Python path; the database's share is asserted on PostgreSQL.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import ForeignKey, Model
from django.test.utils import CaptureQueriesContext

from heatdesk.audit.models import AuditEntry
from heatdesk.billing.models import Allocation, Bill, BillLine, LedgerEntry
from heatdesk.billing.services.ledger import ledger_post_payment
from heatdesk.core.clock import SHANGHAI
from heatdesk.payments.models import (
    PaymentAlert,
    PaymentOrder,
    PaymentOrderItem,
    ProviderNotify,
)
from heatdesk.payments.services.orders import order_create
from heatdesk.payments.tests.notify_support import post_wechat, wechat_notify
from heatdesk.payments.tests.orders_support import BILL_FEN, NOON

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings")]

TABLES: list[type[Model]] = [
    ProviderNotify,
    PaymentOrder,
    PaymentOrderItem,
    PaymentAlert,
    Bill,
    BillLine,
    LedgerEntry,
    Allocation,
    AuditEntry,
]
SETTLE_CALL = "payments_notify_settle"
PAID_BEFORE = dt.timedelta(minutes=2)


def _snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of TABLES, each table's ids (and references to them) replaced by their rank."""
    raw = {model: list(model._default_manager.order_by("pk").values()) for model in TABLES}
    rank = {model: {row["id"]: n for n, row in enumerate(rows)} for model, rows in raw.items()}
    labels = {model._meta.label_lower: model for model in TABLES}
    out: dict[str, list[dict[str, Any]]] = {}
    for model, rows in raw.items():
        refs: dict[str, type[Model]] = {
            f.attname: f.related_model
            for f in model._meta.concrete_fields
            if isinstance(f, ForeignKey)
            and isinstance(f.related_model, type)
            and f.related_model in rank
        }
        for row in rows:
            row["id"] = rank[model][row["id"]]
            for name, target in refs.items():
                if row[name] is not None:
                    row[name] = rank[target][row[name]]
            if model is AuditEntry and row["object_type"] in labels:
                row["object_id"] = rank[labels[row["object_type"]]][int(row["object_id"])]
        out[model._meta.label] = rows
    return out


def _run(settings: Any, act: Callable[[], list[int]], *, in_database: bool) -> tuple[Any, ...]:
    """The answers, the tables afterwards and the statements of `act`, then roll it all back."""
    settings.PAYMENTS_SETTLE_IN_DATABASE = in_database
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            answers = act()
        seen = (answers, _snapshot(), [q["sql"] for q in queries.captured_queries])
        transaction.set_rollback(True)
    return seen


def _both(settings: Any, act: Callable[[], list[int]]) -> tuple[list[str], list[str]]:
    """Run `act` both ways and assert the same answers and tables; the statements of each."""
    with time_machine.travel(NOON, tick=False):
        fast = _run(settings, act, in_database=True)
        slow = _run(settings, act, in_database=False)
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert not any(SETTLE_CALL in sql for sql in slow[2])
    return fast[2], slow[2]


def _notify(order: PaymentOrder, event: str, *, total: int | None = None) -> Callable[[], int]:
    # Paid (success_time) two minutes before it is settled, so paid_at and now differ.
    with time_machine.travel(NOON - PAID_BEFORE, tick=False):
        headers, body = wechat_notify(
            order.out_trade_no,
            total=order.amount_fen if total is None else total,
            event_id=event,
            transaction_id=f"4200{event}",
        )
    return lambda: post_wechat(headers, body).status_code


def _order(resident: Any, bills: list[Bill], key: str) -> PaymentOrder:
    return order_create(payer=resident, channel="wechat_native", bills=bills, idempotency_key=key)


def _one_statement(statements: list[str]) -> bool:
    return len(statements) == 1 and SETTLE_CALL in statements[0]


def _fell_back(statements: list[str]) -> bool:
    return SETTLE_CALL in statements[0] and len(statements) > 1


def test_a_plain_payment_and_its_redelivery(settings, bills, resident):
    # given
    order = _order(resident, [bills[0]], "plain")
    notify = _notify(order, "EV-PLAIN")

    # when
    fast, slow = _both(settings, lambda: [notify(), notify()])

    # then: paid in one statement and acknowledged again in one
    if connection.vendor == "postgresql":
        assert len(fast) == 2
        assert all(SETTLE_CALL in sql for sql in fast)
    assert len(slow) > 2


def test_part_of_a_bill(settings, bills, resident):
    # given an order for part of the bill
    order = _order(resident, [bills[0]], "part")
    PaymentOrder.objects.filter(pk=order.pk).update(amount_fen=100_000)
    PaymentOrderItem.objects.filter(order=order).update(amount_fen=100_000)
    order.amount_fen = 100_000
    notify = _notify(order, "EV-PART")

    # when
    fast, _ = _both(settings, lambda: [notify()])

    # then the bill is partially paid, in one statement
    if connection.vendor == "postgresql":
        assert _one_statement(fast)
    assert Bill.objects.get(pk=bills[0].pk).paid_fen == 0  # rolled back


def test_cases_the_python_path_answers(settings, bills, resident, house_a):
    # given: a bill paid by two orders (excess), an order we closed (late payment), a notify
    # for another amount, and an order of a house whose account holds credit
    twice_a = _order(resident, [bills[0]], "twice-a")
    twice_b = _order(resident, [bills[0]], "twice-b")
    closed = _order(resident, [bills[0]], "closed")
    PaymentOrder.objects.filter(pk=closed.pk).update(status="closed")
    mismatch = _order(resident, [bills[0]], "mismatch")
    acts = [
        _notify(twice_a, "EV-TWICE-A"),
        _notify(twice_b, "EV-TWICE-B"),
        _notify(closed, "EV-CLOSED"),
        _notify(mismatch, "EV-MISMATCH", total=BILL_FEN - 1),
    ]

    # when
    fast, _ = _both(settings, lambda: [act() for act in acts])

    # then the first settles in the database; the others fall back (or are refused) there
    if connection.vendor == "postgresql":
        assert SETTLE_CALL in fast[0]
        assert SETTLE_CALL not in fast[1]
        assert sum(SETTLE_CALL in sql for sql in fast) == len(acts)


def test_the_rest_of_a_bill_a_counter_payment_began(settings, bills, resident, house_a):
    # given a counter payment that went to the bill (the account keeps no credit)
    ledger_post_payment(house=house_a, amount_fen=5_000, source="counter", source_id="PRE-1")
    order = _order(resident, [bills[0]], "rest")
    assert order.amount_fen == BILL_FEN - 5_000
    notify = _notify(order, "EV-REST")

    # when
    fast, _ = _both(settings, lambda: [notify()])

    # then
    if connection.vendor == "postgresql":
        assert _one_statement(fast)


def test_a_late_fee_goes_the_python_way(settings, bills, resident):
    # given a bill paid after its late fees began (the order includes the fee as of then)
    late_day = NOON.replace(year=2027, month=1, day=20, tzinfo=SHANGHAI)
    with time_machine.travel(late_day - PAID_BEFORE, tick=False):
        order = _order(resident, [bills[0]], "late-fee")
        headers, body = wechat_notify(
            order.out_trade_no, total=order.amount_fen, event_id="EV-LATE", transaction_id="42LF"
        )
    assert order.amount_fen > BILL_FEN

    def act() -> list[int]:
        with time_machine.travel(late_day, tick=False):
            return [post_wechat(headers, body).status_code]

    # when
    fast, _ = _both(settings, act)

    # then the fee became a line by the Python path
    if connection.vendor == "postgresql":
        assert _fell_back(fast)


def test_one_statement_for_two_bills_of_a_house(settings, bills, resident, house_a, finance):
    # given a second season's bill for the same house, both in one order
    from heatdesk.billing.services import bill_issue
    from heatdesk.billing.tests.factories import make_season, make_tariff

    season = make_season(shift_years=True)
    make_tariff(season)
    other = bill_issue(house=house_a, season=season, issued_by=finance)
    order = _order(resident, [bills[0], other], "two-bills")
    notify = _notify(order, "EV-TWO")

    # when
    fast, _ = _both(settings, lambda: [notify()])

    # then
    if connection.vendor == "postgresql":
        assert _one_statement(fast)
