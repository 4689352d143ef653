"""A refund of one order that paid the bills of two houses: each house gives back its share in
proportion, partial refunds add up to exactly each house's share, and nothing needs a person.

`refund_split` is arithmetic, so it also gets a table of worked examples and properties."""

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heatdesk.billing.models import LedgerEntry
from heatdesk.billing.tests.factories import assert_account_consistent
from heatdesk.estates.models import HouseBinding
from heatdesk.payments.models import PaymentAlert, PaymentOrder, PaymentOrderItem, Refund
from heatdesk.payments.providers.config import alipay_client
from heatdesk.payments.services import refunds
from heatdesk.payments.services.refunds import refund_split
from heatdesk.payments.services.refunds_houses import refund_post_to_ledger
from heatdesk.payments.services.settlement import order_settle
from heatdesk.payments.tests.orders_support import BILL_FEN, bill_status, payments_of
from heatdesk.payments.tests.support_refunds import sim  # noqa: F401 - fixture
from heatdesk.sandbox.payment_models import SandboxPaymentOrder
from heatdesk.sandbox.payment_services import order_pay_outcome


@pytest.mark.parametrize(
    ("shares", "reversed_fen", "amount", "parts"),
    [
        ([100, 200], [0, 0], 100, [33, 67]),
        ([100, 200], [33, 67], 200, [67, 133]),  # the rest: each house's share exactly
        ([100, 100], [0, 0], 1, [1, 0]),  # a tie goes to the earlier house
        ([100, 100], [1, 0], 1, [0, 1]),
        ([1, 1, 1], [0, 0, 0], 2, [1, 1, 0]),
        ([223750, 223750], [0, 0], 100001, [50001, 50000]),
        ([5, 0], [0, 0], 5, [5, 0]),
        ([100, 200], [100, 0], 100, [0, 100]),  # earlier parts out of proportion: catch up
        ([37, 65626, 95326], [30, 52552, 76335], 3, [0, 1, 2]),  # never a negative part
    ],
)
def test_worked_splits(shares, reversed_fen, amount, parts):
    assert refund_split(shares=shares, reversed_fen=reversed_fen, amount_fen=amount) == parts


@pytest.mark.parametrize(
    ("shares", "reversed_fen", "amount"),
    [
        ([100, 200], [0, 0], 301),  # more than the order
        ([100, 200], [101, 0], 1),  # a house already had back more than it paid
        ([0, 0], [0, 0], 1),
    ],
)
def test_impossible_splits_are_refused(shares, reversed_fen, amount):
    with pytest.raises(ValueError, match="refund exceeds|exceed a house"):
        refund_split(shares=shares, reversed_fen=reversed_fen, amount_fen=amount)


@given(
    shares=st.lists(st.integers(min_value=1, max_value=10**8), min_size=2, max_size=5),
    cuts=st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=6),
)
def test_any_run_of_partial_refunds_gives_each_house_back_exactly_its_share(shares, cuts):
    total = sum(shares)
    points = sorted({int(total * c) for c in cuts} | {total})
    back = [0] * len(shares)
    before = 0
    for point in points:
        if point == before:
            continue
        parts = refund_split(shares=shares, reversed_fen=back, amount_fen=point - before)
        assert sum(parts) == point - before
        assert all(p >= 0 for p in parts)
        back = [b + p for b, p in zip(back, parts, strict=True)]
        assert all(b <= s for b, s in zip(back, shares, strict=True))
        before = point
    assert back == shares


def _paid_two_house_order(bills) -> PaymentOrder:
    """One Alipay order for both houses' bills, paid at the simulator and settled here."""
    no = "HT" + secrets.token_hex(8).upper()
    amount = sum(b.total_fen for b in bills)
    order = PaymentOrder.objects.create(
        out_trade_no=no,
        provider="alipay",
        channel="alipay_precreate",
        status=PaymentOrder.Status.PENDING,
        amount_fen=amount,
        description="采暖费",
    )
    for bill in bills:
        PaymentOrderItem.objects.create(
            order=order, house=bill.house, bill=bill, amount_fen=bill.total_fen
        )
    alipay_client().precreate(out_trade_no=no, subject="采暖费", amount_fen=amount)
    trade = SandboxPaymentOrder.objects.get(out_trade_no=no)
    paid = order_pay_outcome(order_id=trade.id, outcome="succeed")
    return order_settle(order=order, transaction_id=paid.transaction_id, paid_fen=amount)


def _refunds_of(house) -> list[tuple[str, int]]:
    return list(
        LedgerEntry.objects.filter(house=house, kind="refund")
        .order_by("id")
        .values_list("source_id", "amount_fen")
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sim")
def test_a_two_house_order_refunded_in_two_parts_gives_each_house_back_its_share(
    bills, resident, house_a, house_b, agent, finance
):
    HouseBinding.objects.create(user=resident, house=house_b, relation="family")
    order = _paid_two_house_order(bills)
    first, second = sorted([house_a, house_b], key=lambda h: h.pk)
    assert payments_of(first) == [(-BILL_FEN, f"{order.out_trade_no}-1")]
    # when a third-ish is refunded, then the rest
    one = refunds.refund_approve(
        refund=refunds.refund_request(order=order, amount_fen=100001, reason="退费", by=agent),
        by=finance,
    )
    assert one.status == "succeeded"
    assert _refunds_of(first) == [(f"{one.out_refund_no}-1", 50001)]
    assert _refunds_of(second) == [(f"{one.out_refund_no}-2", 50000)]
    rest = 2 * BILL_FEN - 100001
    two = refunds.refund_approve(
        refund=refunds.refund_request(order=order, amount_fen=rest, reason="退费", by=agent),
        by=finance,
    )
    assert two.status == "succeeded"
    # then each house had back exactly what it paid, its bill owes its total again
    assert _refunds_of(first) == [
        (f"{one.out_refund_no}-1", 50001),
        (f"{two.out_refund_no}-1", BILL_FEN - 50001),
    ]
    assert _refunds_of(second) == [
        (f"{one.out_refund_no}-2", 50000),
        (f"{two.out_refund_no}-2", BILL_FEN - 50000),
    ]
    assert [bill_status(b) for b in bills] == [("issued", 0), ("issued", 0)]
    assert assert_account_consistent(house_a) == assert_account_consistent(house_b) == BILL_FEN
    assert not Refund.objects.filter(needs_attention=True).exists()
    assert not PaymentAlert.objects.filter(kind="refund_abnormal").exists()
    # a repeat of the ledger step posts nothing more
    refund_post_to_ledger(refund=Refund.objects.select_related("order").get(pk=two.pk), by=None)
    assert len(_refunds_of(first)) == len(_refunds_of(second)) == 2
