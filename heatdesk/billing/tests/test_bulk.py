"""Writing a run's batch in bulk: what goes in is exactly what was planned."""

from decimal import Decimal as D

import pytest
from django.db import transaction

from heatdesk.billing import bulk
from heatdesk.billing.calculation import DraftLine
from heatdesk.billing.models import Bill, BillLine, LedgerEntry
from heatdesk.billing.services import runs
from heatdesk.core import clock
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db

LINE_FIELDS = (
    "kind",
    "amount_fen",
    "explanation",
    "quantity",
    "unit",
    "unit_price",
    "ratio",
    "period_from",
    "period_to",
    "reason",
)


def test_a_batch_stores_lines_as_planned_whatever_characters_their_texts_hold(
    season, tariff, admin_user
):
    # given: two houses sharing one tuple of lines, as houses planned alike share them, with
    # texts holding what the bulk format escapes (tab, newline, carriage return, backslash,
    # "\N") and fields left empty
    houses = [make_house(building_area=D("89.50")) for _ in range(2)]
    run = runs.billing_run_start(season=season, by=admin_user, background=False)
    lines = (
        DraftLine(
            kind="area_fee",
            amount_fen=223750,
            explanation="建筑面积\t89.50㎡ × 25.00元/㎡\n（第一行）",
            quantity=D("89.50"),
            unit="㎡",
            unit_price=D("25.00"),
            period_from=season.heating_start,
            period_to=season.heating_end,
        ),
        DraftLine(
            kind="relief_subsidy",
            amount_fen=-1000,
            explanation="低保减免\r\\N × 50%",
            ratio=D("0.5"),
            reason="C:\\减免\\",
        ),
    )
    rows = [
        bulk.BillRow(
            house.pk, tariff.pk, D("89.50"), "residential", "normal", "heating", 222750, lines
        )
        for house in houses
    ]
    # when
    with transaction.atomic():
        written = bulk.bills_write(
            batch=bulk.Batch(
                season_id=season.pk,
                run_id=run.pk,
                by_id=admin_user.pk,
                at=clock.now(),
                charge_words="热费\t（账单 ",
            ),
            rows=rows,
        )
    # then
    assert written == {house.pk for house in houses}
    for house in houses:
        bill = Bill.objects.get(house=house, season=season)
        assert (bill.status, bill.total_fen, bill.area, bill.run_id) == (
            "issued",
            222750,
            D("89.50"),
            run.pk,
        )
        stored = BillLine.objects.filter(bill=bill).order_by("id").values_list(*LINE_FIELDS)
        assert list(stored) == [tuple(getattr(x, f) for f in LINE_FIELDS) for x in lines]
        charge = LedgerEntry.objects.get(bill=bill)
        assert charge.explanation == f"热费\t（账单 {bill.public_id}）"
        assert charge.amount_fen == 222750


def test_a_batch_skips_a_house_that_already_has_its_bill(season, tariff, admin_user):
    # given: the first house was billed meanwhile (as by another writer)
    houses = [make_house(building_area=D("80.00")) for _ in range(2)]
    run = runs.billing_run_start(season=season, by=admin_user, background=False)
    line = DraftLine(kind="area_fee", amount_fen=200000, explanation="建筑面积 80.00㎡")
    batch = bulk.Batch(
        season_id=season.pk, run_id=run.pk, by_id=None, at=clock.now(), charge_words="热费 "
    )

    def row(house):
        return bulk.BillRow(
            house.pk, tariff.pk, D("80.00"), "residential", "normal", "heating", 200000, (line,)
        )

    with transaction.atomic():
        bulk.bills_write(batch=batch, rows=[row(houses[0])])
    first = Bill.objects.get(house=houses[0])
    # when
    with transaction.atomic():
        written = bulk.bills_write(batch=batch, rows=[row(house) for house in houses])
    # then: only the second house got a bill; the first keeps its one bill, line and charge
    assert written == {houses[1].pk}
    assert list(Bill.objects.filter(house=houses[0])) == [first]
    assert BillLine.objects.filter(bill__house=houses[0]).count() == 1
    assert LedgerEntry.objects.filter(house_id=houses[0].pk).count() == 1
    assert Bill.objects.filter(house=houses[1]).count() == 1
