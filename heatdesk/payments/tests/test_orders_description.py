"""The order description becomes 商品名称 in the providers' CSV bill files, so it never holds a
comma, whatever the company's account numbers look like (payments.md §4.5 #35)."""

import pytest

from heatdesk.billing.services import bill_issue
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.estates.models import HouseBinding
from heatdesk.payments.models import PaymentOrder
from heatdesk.payments.services.orders import order_create
from heatdesk.testing import make_house

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_settings", "frozen_day")]


def test_a_comma_in_an_account_number_never_reaches_the_description(resident, finance):
    season = make_season()
    make_tariff(season)
    houses = [make_house(account_no="12,345"), make_house(account_no="12,346")]
    bills = []
    for house in houses:
        HouseBinding.objects.create(user=resident, house=house, relation="owner")
        bills.append(bill_issue(house=house, season=season, issued_by=finance))
    one = order_create(
        payer=resident, channel="wechat_native", bills=bills[:1], idempotency_key="1"
    )
    two = order_create(payer=resident, channel="alipay_precreate", bills=bills, idempotency_key="2")
    assert one.description == "采暖费-12 345"
    assert two.description == "采暖费-12 345等2户"
    stored = PaymentOrder.objects.order_by("id").values_list("description", flat=True)
    assert all("," not in text for text in stored)
