"""`insert_unless_duplicate` (INSERT … ON CONFLICT DO NOTHING RETURNING id), the notify's and the
ledger posting's idempotency guard: the first row is written, a repeat of its unique key writes
nothing and leaves the transaction usable, and any other violation still raises."""

import pytest
from django.db import IntegrityError, transaction

from heatdesk.core.inserts import insert_unless_duplicate
from heatdesk.payments.models import PaymentOrder, ProviderNotify

pytestmark = pytest.mark.django_db


def _notify(event_id: str, kind: str = "payment") -> ProviderNotify:
    return ProviderNotify(
        provider="wechatpay", event_id=event_id, kind=kind, out_trade_no="HT1", payload={"a": 1}
    )


def test_the_first_row_is_written_with_its_key_and_defaults():
    row = _notify("EV-1")
    assert insert_unless_duplicate(row) is True
    stored = ProviderNotify.objects.get()
    assert (row.pk, row._state.adding) == (stored.pk, False)
    assert (stored.event_id, stored.outcome, stored.payload) == ("EV-1", "applied", {"a": 1})
    assert stored.received_at is not None


def test_a_repeat_of_the_unique_key_writes_nothing_and_the_transaction_goes_on():
    assert insert_unless_duplicate(_notify("EV-2"))
    repeat = _notify("EV-2", kind="refund")
    with transaction.atomic():
        assert insert_unless_duplicate(repeat) is False
        # no savepoint was needed: the same transaction still works
        assert ProviderNotify.objects.count() == 1
    assert repeat.pk is None
    assert ProviderNotify.objects.get().kind == "payment"


def test_a_violation_other_than_the_unique_key_still_raises():
    order = PaymentOrder(
        out_trade_no="HTCHECK1", provider="wechatpay", channel="wechat_native", amount_fen=0
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_unless_duplicate(order)  # amount_fen > 0 is a CHECK constraint
    assert not PaymentOrder.objects.exists()
