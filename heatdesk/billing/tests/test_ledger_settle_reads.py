"""`_settle` reads the house's bills once under the lock; a bill met twice in one payment (an
explicit choice, then oldest first) is read afresh the second time, so its late fee counts the
late-fee line the first visit fixed, and is not charged it twice."""

import datetime as dt

import pytest

from heatdesk.billing import services
from heatdesk.billing.models import Allocation, Bill
from heatdesk.billing.services import ledger
from heatdesk.billing.tests.factories import assert_account_consistent, lines_of
from heatdesk.core.clock import SHANGHAI

pytestmark = pytest.mark.django_db

BILL = 223750  # 89.50㎡ × 25.00
LATE = 4475  # 223,750 × 2‰ × 10 days, as of 2027-01-10


def test_a_bill_chosen_in_part_then_met_oldest_first_gets_its_late_fee_once(
    season, tariff, house_a, finance
):
    # given: an overdue bill, 10 days of late fee by 2027-01-10
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)

    # when: the payer pays it all, the principal chosen explicitly for the bill (which fixes the
    # late fee into a line and leaves the bill owing it)
    posting = ledger.ledger_post_payment(
        house=house_a,
        amount_fen=BILL + LATE,
        source="counter",
        source_id="R-TWICE",
        allocations=[(bill, BILL)],
        paid_at=dt.datetime(2027, 1, 10, 10, tzinfo=SHANGHAI),
    )

    # then: the explicit part first, then the rest settles the bill with its late fee fixed
    assert [(a.bill_id, a.amount_fen) for a in posting.allocations] == [
        (bill.pk, BILL),
        (bill.pk, LATE),
    ]
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen, row.paid_fen) == ("paid", BILL + LATE, BILL + LATE)
    assert lines_of(bill) == [("area_fee", BILL), ("late_fee", LATE)]
    assert Allocation.objects.filter(bill=bill).count() == 2
    assert assert_account_consistent(house_a) == 0
