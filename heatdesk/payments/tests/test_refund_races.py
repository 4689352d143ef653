"""Refund requests racing on one paid order, in real processes: the order's row lock keeps the
sum of refunds within what was paid."""

from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.billing import services as billing
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.billing.tests.processes import in_processes
from heatdesk.core.errors import Conflict
from heatdesk.payments.models import PaymentOrder, Provider, Refund
from heatdesk.payments.services import refunds
from heatdesk.payments.tests.support_refunds import paid_order

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]
WORKERS = 4


def _ask(index: int, barrier: Any, order_id: int, user_id: int, amount: int) -> str:
    order = PaymentOrder.objects.get(pk=order_id)
    by = User.objects.get(pk=user_id)
    barrier.wait(timeout=60)
    try:
        refunds.refund_request(order=order, amount_fen=amount, reason="并发退款", by=by)
    except Conflict as exc:
        return exc.code
    return "requested"


def test_concurrent_requests_never_exceed_the_paid_amount(shared_database, house_a, collector):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    bill = billing.bill_issue(house=house_a, season=season, issued_by=collector)
    order = paid_order(provider=Provider.COUNTER, bill=bill, collector=collector)
    share = order.amount_fen * 2 // 5  # two fit, a third would not
    # when four processes ask at the same moment
    answers = in_processes(_ask, [(order.pk, collector.pk, share)] * WORKERS)
    # then exactly two were accepted, and the refunds stay within the paid amount
    assert sorted(answers) == ["refund_exceeds_paid"] * 2 + ["requested"] * 2
    held = Refund.objects.filter(order=order).aggregate(s=Sum("amount_fen"))["s"]
    assert held == 2 * share <= order.amount_fen
