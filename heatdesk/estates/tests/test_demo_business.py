"""The demo's bills and bookings: a new user who logs in as a demo resident finds a bill to pay
and a visit to book, and loading the demo again changes nothing. The demo is loaded once for the
module (demo_support's `demo_output`); each test runs in a savepoint inside that load."""

import datetime as dt

import pytest
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash, token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.billing.choices import BillLineKind
from heatdesk.billing.demo import season_rules, winter_start_year
from heatdesk.billing.models import Bill, BillingRun, BillLine, HeatingSeason, LedgerEntry, Tariff
from heatdesk.billing.selectors.account import account_summary
from heatdesk.bookings.models import CalendarDay, Resource, Service, WorkingHours
from heatdesk.bookings.selectors import availability
from heatdesk.core import clock
from heatdesk.estates.models import House, HouseBinding
from heatdesk.estates.tests.demo_support import demo_output_once, load_demo  # noqa: F401
from heatdesk.payments.models import CounterShift, PaymentOrder
from heatdesk.testing import ApiClient


def footprint() -> dict[str, object]:
    return {
        "seasons": list(HeatingSeason.objects.order_by("code").values_list("code", "status")),
        "tariffs": Tariff.objects.count(),
        "runs": list(BillingRun.objects.values_list("status", flat=True)),
        "bills": list(
            Bill.objects.order_by("id").values_list("id", "status", "total_fen", "paid_fen")
        ),
        "lines": BillLine.objects.count(),
        "ledger": LedgerEntry.objects.aggregate(n=Sum("amount_fen"))["n"],
        "ledger_entries": LedgerEntry.objects.count(),
        "orders": PaymentOrder.objects.count(),
        "shifts": list(CounterShift.objects.values_list("status", flat=True)),
        "services": list(Service.objects.order_by("code").values_list("code", flat=True)),
        "resources": Resource.objects.count(),
        "hours": WorkingHours.objects.count(),
        "calendar": CalendarDay.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def resident(phone: str) -> User:
    return User.objects.get(phone_hash=phone_hash(phone))


def bound_houses(phone: str) -> list[House]:
    return [
        b.house
        for b in HouseBinding.objects.filter(user=resident(phone), ended_at=None).select_related(
            "house"
        )
    ]


@pytest.mark.django_db
def test_every_bound_demo_house_has_an_open_bill_with_money_due(demo_output):
    output = demo_output

    today = clock.local_today()
    season = HeatingSeason.objects.get(code=season_rules(winter_start_year(today))["code"])
    assert season.status == HeatingSeason.Status.OPEN
    assert BillingRun.objects.get(season=season).status == BillingRun.Status.COMMITTED
    # The run billed every house that heats or is stopped; none is disconnected in the demo.
    assert Bill.objects.filter(season=season).count() == House.objects.count()
    for phone in ("13800000001", "13800000002"):
        houses = bound_houses(phone)
        assert houses
        for house in houses:
            bill = Bill.objects.get(house=house, season=season)
            assert bill.status in {Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID}
            assert bill.total_fen - bill.paid_fen > 0
            assert account_summary(house=house, as_of=today).due_fen > 0
    assert "演示业务数据" in output
    assert "/sandbox/sms/" in output


@pytest.mark.django_db
def test_the_bill_pages_have_arrears_a_late_fee_a_part_payment_and_paid_bills(demo_output):
    year = winter_start_year(clock.local_today())
    last = HeatingSeason.objects.get(code=season_rules(year - 1)["code"])
    assert last.status == HeatingSeason.Status.CLOSED
    # The demo resident's second home still owes last winter, its late fee fixed at the close.
    old = Bill.objects.get(house__account_no="HT020611101", season=last)
    assert old.status == Bill.Status.ISSUED
    late = BillLine.objects.get(bill=old, kind=BillLineKind.LATE_FEE)
    assert late.amount_fen > 0
    assert BillLine.objects.filter(bill=old).aggregate(s=Sum("amount_fen"))["s"] == old.total_fen
    # The second demo resident paid 1,000 元 at the counter.
    part = Bill.objects.get(
        house__account_no="HT030230301", season__code=season_rules(year)["code"]
    )
    assert (part.status, part.paid_fen) == (Bill.Status.PARTIALLY_PAID, 100_000)
    assert Bill.objects.filter(status=Bill.Status.PAID).count() > 10
    kinds = set(BillLine.objects.values_list("kind", flat=True))
    assert {
        BillLineKind.AREA_FEE,
        BillLineKind.STOP_BASIC_FEE,
        BillLineKind.SURCHARGE,
        BillLineKind.RELIEF_SUBSIDY,
        BillLineKind.LATE_FEE,
    } <= kinds
    # Counter money was taken in a shift the collector closed even.
    shift = CounterShift.objects.get()
    assert shift.status == CounterShift.Status.CLOSED
    assert shift.difference_fen == 0
    assert PaymentOrder.objects.filter(status=PaymentOrder.Status.PAID).count() == (
        Bill.objects.filter(status__in=[Bill.Status.PAID, Bill.Status.PARTIALLY_PAID]).count()
    )


@pytest.mark.django_db
def test_the_demo_resident_sees_bills_to_pay_through_the_api(demo_output):
    api = ApiClient(token_issue(user=resident("13800000001")))

    houses = api.get("houses")

    assert houses.status_code == 200
    assert len(houses.json()) == 2
    for house in houses.json():
        response = api.get(f"bills?house_id={house['id']}")
        assert response.status_code == 200, response.content
        assert any(b["status"] == "issued" for b in response.json()), response.json()


@pytest.mark.django_db
def test_every_demo_service_has_free_slots_in_the_next_seven_days(demo_output):
    today = clock.local_today()
    week = (today, today + dt.timedelta(days=7))
    house = House.objects.select_related("unit__building").get(account_no="HT010320502")
    community_id = house.unit.building.community_id
    services = {s.code: s for s in Service.objects.filter(is_active=True)}
    assert set(services) == {"home-repair", "temperature-check", "valve-adjust", "hall-service"}
    assert {s.name for s in services.values()} == {"上门维修", "入户测温", "阀门调节", "营业厅办理"}
    for service in services.values():
        community = community_id if service.kind == Service.Kind.VISIT else None
        offers = availability(
            service=service, community_id=community, date_from=week[0], date_to=week[1]
        )
        assert len(offers) > 10, service.code
        assert all(o.starts_at > clock.now() for o in offers)
    technician = User.objects.get(username="technician")
    assert Resource.objects.get(code="team-north").members.get() == technician


@pytest.mark.django_db
def test_a_second_run_changes_nothing(demo_output):
    before = footprint()

    output = load_demo()

    assert footprint() == before
    assert "演示数据已存在，未做改动。" in output
    assert "演示业务数据" not in output
