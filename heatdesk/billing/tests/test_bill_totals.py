"""A bill's total is the sum of its lines, always: whatever was issued, adjusted or refused."""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillLine
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core.errors import ApplicationError
from heatdesk.estates.models import House
from heatdesk.testing import make_house

pytestmark = pytest.mark.django_db


def _sum_of_lines(bill: Bill) -> int:
    return BillLine.objects.filter(bill=bill).aggregate(total=Sum("amount_fen"))["total"] or 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    area=st.decimals(min_value=D("0.01"), max_value=D("9999.99"), places=2),
    user_type=st.sampled_from(House.UserType.values),
    heating_status=st.sampled_from(["heating", "stopped"]),
    supply_from=st.none() | st.integers(min_value=0, max_value=120),
    adjustments=st.lists(st.integers(min_value=-(10**7), max_value=10**7).filter(bool), max_size=4),
    void_midway=st.booleans(),
)
def test_total_is_always_the_sum_of_lines(
    admin_user, area, user_type, heating_status, supply_from, adjustments, void_midway
):
    season = make_season(shift_years=True)
    make_tariff(season, area_price=D("24.50"))
    make_tariff(
        season,
        user_type="low_income",
        area_price=D("24.50"),
        relief_ratio=D("0.85"),
        relief_funding_source="市民政局",
    )
    house = make_house(building_area=area, user_type=user_type, heating_status=heating_status)
    start = None
    if supply_from is not None:
        start = season.heating_start + dt.timedelta(days=supply_from)
    bill = services.bill_issue(house=house, season=season, issued_by=admin_user, supply_from=start)
    assert Bill.objects.get(pk=bill.pk).total_fen == _sum_of_lines(bill)
    for n, amount in enumerate(adjustments):
        if void_midway and n == len(adjustments) // 2:
            if Bill.objects.get(pk=bill.pk).status == "issued":
                services.bill_void(bill=bill, reason="作废重开", by=admin_user)
            else:  # settled (a zero bill, or adjusted down to zero): not voidable
                with pytest.raises(ApplicationError):
                    services.bill_void(bill=bill, reason="作废重开", by=admin_user)
        before = Bill.objects.get(pk=bill.pk)
        if before.status == "void" or before.total_fen + amount < 0:
            # Refused: on a void bill, or when the total would go below zero; nothing moves.
            with pytest.raises(ApplicationError):
                services.bill_adjust(bill=bill, amount_fen=amount, reason="核对调整", by=admin_user)
            assert Bill.objects.get(pk=bill.pk).total_fen == before.total_fen
        else:
            services.bill_adjust(bill=bill, amount_fen=amount, reason="核对调整", by=admin_user)
        assert Bill.objects.get(pk=bill.pk).total_fen == _sum_of_lines(bill)
        assert Bill.objects.get(pk=bill.pk).total_fen >= 0
