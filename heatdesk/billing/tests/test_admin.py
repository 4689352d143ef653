"""The back office: pages load, issued bills and used tariffs are read-only, writes go through
the services (so they are validated and audited)."""

import datetime as dt
from decimal import Decimal as D

import pytest
from django.test import Client

from heatdesk.accounts.models import User
from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, Tariff
from heatdesk.billing.tests.factories import make_season, make_tariff, season_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return User.objects.create_superuser("root", "correct-horse-battery")


@pytest.fixture
def web(operator):
    client = Client()
    client.force_login(operator)
    return client


TARIFF_FORM = {
    "pricing": "area",
    "area_basis": "building",
    "area_price": "25.00",
    "basic_price": "",
    "basic_ratio": "",
    "metered_price": "",
    "metered_unit": "",
    "settlement_mode": "refund_and_topup",
    "settlement_cap_ratio": "",
    "stop_basic_ratio": "0.30",
    "prorate_by_day": "on",
    "surcharge_ratio": "0",
    "relief_ratio": "0",
    "relief_funding_source": "",
    "note": "",
}


def _season_form(**overrides) -> dict:
    form = {
        name: (value.isoformat() if isinstance(value, dt.date) else str(value))
        for name, value in season_fields().items()
    }
    form["late_fee_stops_at_cutoff"] = "on"
    form.update(overrides)
    return form


def test_the_lists_load(web, house_a, operator):
    season = make_season()
    make_tariff(season)
    services.bill_issue(house=house_a, season=season, issued_by=operator)
    for path in ("heatingseason", "tariff", "bill"):
        response = web.get(f"/admin/billing/{path}/")
        assert response.status_code == 200, path
    assert house_a.account_no in web.get("/admin/billing/bill/").content.decode()


def test_an_issued_bill_is_shown_read_only_with_its_lines(web, house_a, operator):
    season = make_season()
    make_tariff(season)
    bill = services.bill_issue(house=house_a, season=season, issued_by=operator)
    services.bill_adjust(bill=bill, amount_fen=-5000, reason="面积核减", by=operator)
    url = f"/admin/billing/bill/{bill.pk}/change/"
    # when
    page = web.get(url)
    posted = web.post(url, {"status": "paid", "total_fen": "1"})
    # then
    assert page.status_code == 200
    body = page.content.decode()
    assert "建筑面积 89.50㎡ × 25.00元/㎡" in body
    assert "费用调整 -50.00元：面积核减" in body
    assert 'name="total_fen"' not in body  # nothing to edit
    assert posted.status_code == 403
    row = Bill.objects.get(pk=bill.pk)
    assert (row.status, row.total_fen) == ("issued", 218750)
    assert BillLine.objects.filter(bill=bill).count() == 2


def test_bills_cannot_be_added_or_deleted_from_the_admin(web, house_a, operator):
    season = make_season()
    make_tariff(season)
    bill = services.bill_issue(house=house_a, season=season, issued_by=operator)
    assert web.get("/admin/billing/bill/add/").status_code == 403
    assert web.post(f"/admin/billing/bill/{bill.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Bill.objects.filter(pk=bill.pk).exists()


def test_a_season_added_in_the_admin_goes_through_the_service(web, operator):
    response = web.post("/admin/billing/heatingseason/add/", _season_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    season = HeatingSeason.objects.get(code="2026-2027")
    assert (season.status, season.created_by) == ("draft", operator)
    assert AuditEntry.objects.filter(action="billing.season_create", actor=operator).count() == 1


def test_an_invalid_season_form_is_refused(web):
    response = web.post("/admin/billing/heatingseason/add/", _season_form(heating_end="2026-11-01"))
    assert response.status_code == 200
    assert "供暖结束日不能早于供暖开始日。" in response.content.decode()
    assert HeatingSeason.objects.count() == 0


def test_the_open_action_moves_seasons_through_the_service(web, operator):
    season = make_season(status="draft")
    closed = make_season(status="closed", shift_years=True)
    response = web.post(
        "/admin/billing/heatingseason/",
        {"action": "open_selected", "_selected_action": [season.pk, closed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert HeatingSeason.objects.get(pk=season.pk).status == "open"
    assert HeatingSeason.objects.get(pk=closed.pk).status == "closed"
    assert AuditEntry.objects.filter(action="billing.season_open").count() == 1
    assert "不能改为" in response.content.decode()


def test_an_open_season_is_read_only(web):
    season = make_season(status="open")
    posted = web.post(
        f"/admin/billing/heatingseason/{season.pk}/change/", _season_form(late_fee_rate="0.001")
    )
    assert posted.status_code == 403
    assert HeatingSeason.objects.get(pk=season.pk).late_fee_rate == D("0.002")


def test_an_unused_tariff_is_edited_through_the_service(web, operator):
    season = make_season()
    tariff = make_tariff(season, area_price=D("24.00"))
    response = web.post(f"/admin/billing/tariff/{tariff.pk}/change/", TARIFF_FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Tariff.objects.get(pk=tariff.pk).area_price == D("25.00")
    entry = AuditEntry.objects.get(action="billing.tariff_update")
    assert entry.after["area_price"] == "25.0000"


def test_a_tariff_used_by_a_bill_is_read_only_in_the_admin(web, house_a, operator):
    season = make_season()
    tariff = make_tariff(season, area_price=D("24.00"))
    services.bill_issue(house=house_a, season=season, issued_by=operator)
    posted = web.post(f"/admin/billing/tariff/{tariff.pk}/change/", TARIFF_FORM)
    assert posted.status_code == 403
    assert Tariff.objects.get(pk=tariff.pk).area_price == D("24.00")
    assert not AuditEntry.objects.filter(action="billing.tariff_update").exists()


def test_the_new_version_action_copies_a_used_tariff(web, house_a, operator):
    season = make_season()
    tariff = make_tariff(season, area_price=D("24.00"))
    services.bill_issue(house=house_a, season=season, issued_by=operator)
    web.post("/admin/billing/tariff/", {"action": "new_version", "_selected_action": [tariff.pk]})
    copy = Tariff.objects.get(season=season, version=2)
    assert (copy.area_price, copy.in_use_since) == (D("24.0000"), None)
    assert web.get(f"/admin/billing/tariff/{copy.pk}/change/").status_code == 200


def test_opening_a_season_needs_its_own_permission():
    from django.contrib.auth.models import Permission

    clerk = User.objects.create_user("clerk", "correct-horse-battery", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="billing",
            codename__in=["view_heatingseason", "change_heatingseason"],
        )
    )
    season = make_season(status="draft")
    client = Client()
    client.force_login(clerk)
    response = client.post(
        "/admin/billing/heatingseason/",
        {"action": "open_selected", "_selected_action": [season.pk]},
    )
    assert response.status_code == 200  # the action is not offered to this user
    assert HeatingSeason.objects.get(pk=season.pk).status == "draft"
    assert not AuditEntry.objects.filter(action="billing.season_open").exists()
