"""Shared set-up of the counter tests: a season, a bill of 2,237.50 元 for house A, a collector
with an open shift, and helpers that read the account back."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission

from heatdesk.billing import services as billing
from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.core.clock import SHANGHAI
from heatdesk.payments.services.counter_shifts import shift_open

BILL = 223750  # 89.50㎡ × 25.00 元


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI)


@pytest.fixture
def on_nov_20():
    """After the early-payment discount, before any late fee: a bill owes exactly its total."""
    with time_machine.travel(at(2026, 11, 20), tick=True):
        yield


@pytest.fixture
def bill(db, house_a, finance, on_nov_20):
    season = make_season()
    make_tariff(season, area_price=Decimal("25.00"))
    return billing.bill_issue(house=house_a, season=season, issued_by=finance)


@pytest.fixture
def shift(collector, on_nov_20):
    return shift_open(collector=collector, opening_float_fen=50000)


def grant(user, *perms: str):
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # Permission caches live on the instance: hand back a fresh one.
    return type(user).objects.get(pk=user.pk)


def bill_state(bill: Bill) -> tuple[str, int, int]:
    row = Bill.objects.get(pk=bill.pk)
    return row.status, row.total_fen, row.paid_fen


def ledger_rows(house) -> list[tuple[str, int, str]]:
    return list(
        LedgerEntry.objects.filter(house=house)
        .order_by("id")
        .values_list("kind", "amount_fen", "source")
    )


def credit(house) -> int:
    return credit_fen(house_id=house.pk)
