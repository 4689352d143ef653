"""A double tap for real: several processes ask to pay the same bill at the same moment, each
with its own Idempotency-Key, and get one open order; the same key from several processes at
once gets the one order too."""

import pytest

from heatdesk.accounts.models import User
from heatdesk.billing.models import Bill
from heatdesk.billing.tests.processes import in_processes
from heatdesk.payments.models import PaymentOrder, PaymentOrderItem
from heatdesk.payments.services.orders import order_create

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("payment_settings"),
]


def _tap(index, barrier, payer_id, bill_id, key):
    payer = User.objects.get(pk=payer_id)
    bill = Bill.objects.get(pk=bill_id)
    barrier.wait()
    order = order_create(payer=payer, channel="wechat_native", bills=[bill], idempotency_key=key)
    return order.pk


@pytest.mark.parametrize("keys", ["distinct", "same"])
def test_concurrent_taps_for_one_bill_get_one_open_order(shared_database, bills, resident, keys):
    args = [
        (resident.pk, bills[0].pk, f"tap-{n}" if keys == "distinct" else "tap") for n in range(4)
    ]
    answers = in_processes(_tap, args)
    assert len(set(answers)) == 1
    assert PaymentOrder.objects.count() == 1
    assert PaymentOrderItem.objects.count() == 1
