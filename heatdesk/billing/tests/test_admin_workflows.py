"""The back office for runs, stop/resume decisions, meter imports, adjustments and the ledger:
pages load, actions go through the services, and staff without the permission get nothing."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from heatdesk.accounts.models import User
from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillingRun, BillLine, HeatingChange, MeterReading
from heatdesk.billing.services import runs
from heatdesk.billing.services.heating_changes import heating_change_apply
from heatdesk.core.clock import SHANGHAI
from heatdesk.testing import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return User.objects.create_superuser("root", "correct-horse-battery")


@pytest.fixture
def web(operator):
    client = Client()
    client.force_login(operator)
    return client


def staff_web(username: str, *codenames: str) -> Client:
    user = make_staff(username, "collector")
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="billing", codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def test_a_run_starts_from_the_season_and_commits_from_its_page(
    web, season, tariff, house_a, house_b, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        web.post(
            "/admin/billing/heatingseason/",
            {"action": "start_run", "_selected_action": [season.pk]},
        )
    run = BillingRun.objects.get()
    assert run.status == "previewed"
    page = web.get(f"/admin/billing/billingrun/{run.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "100%（2/2 户）" in body
    assert "开账户数" in body
    assert "4,475.00" in body  # two bills of 2,237.50
    assert "Refresh" not in page  # finished: no need to follow it
    with django_capture_on_commit_callbacks(execute=True):
        web.post(
            "/admin/billing/billingrun/",
            {"action": "commit_selected", "_selected_action": [run.pk]},
        )
    assert BillingRun.objects.get(pk=run.pk).status == "committed"
    assert Bill.objects.filter(run=run).count() == 2
    assert web.get("/admin/billing/billingrun/").status_code == 200


def test_a_running_runs_page_refreshes_itself(web, season, tariff, house_a, operator):
    run = runs.billing_run_start(season=season, by=operator, background=False)
    page = web.get(f"/admin/billing/billingrun/{run.pk}/change/")
    assert page["Refresh"] == "3"
    assert "0%（0/1 户）" in page.content.decode()


def test_without_the_permission_runs_cannot_be_started_or_committed(
    season, tariff, house_a, operator
):
    viewer = staff_web("viewer", "view_heatingseason", "view_billingrun")
    viewer.post(
        "/admin/billing/heatingseason/", {"action": "start_run", "_selected_action": [season.pk]}
    )
    assert not BillingRun.objects.exists()
    run = runs.billing_run_process(
        run_id=runs.billing_run_start(season=season, by=operator, background=False).pk
    )
    viewer.post(
        "/admin/billing/billingrun/", {"action": "commit_selected", "_selected_action": [run.pk]}
    )
    assert BillingRun.objects.get(pk=run.pk).status == "previewed"
    assert not Bill.objects.exists()


def test_stop_applications_are_decided_with_the_action_form(
    web, season, tariff, house_a, resident, operator
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=operator)
    with time_machine.travel(dt.datetime(2026, 10, 1, tzinfo=SHANGHAI), tick=False):
        change = heating_change_apply(resident=resident, house=house_a, season=season, kind="stop")
    # a rejection without a reason is refused and changes nothing
    web.post(
        "/admin/billing/heatingchange/",
        {"action": "reject_selected", "_selected_action": [change.pk], "reason": ""},
    )
    assert HeatingChange.objects.get(pk=change.pk).status == "pending"
    # a date that is not one is refused
    web.post(
        "/admin/billing/heatingchange/",
        {"action": "approve_selected", "_selected_action": [change.pk], "effective_from": "明天"},
    )
    assert HeatingChange.objects.get(pk=change.pk).status == "pending"
    # approval from a date typed in the form
    web.post(
        "/admin/billing/heatingchange/",
        {
            "action": "approve_selected",
            "_selected_action": [change.pk],
            "effective_from": "2027-01-15",
        },
    )
    row = HeatingChange.objects.get(pk=change.pk)
    assert (row.status, row.effective_from) == ("approved", dt.date(2027, 1, 15))
    assert Bill.objects.get(pk=bill.pk).total_fen == 223750 - 110950 + 33285


def test_meter_readings_are_imported_on_their_page(web, season, tariff, house_a):
    page = web.get("/admin/billing/meterreading/import/")
    assert page.status_code == 200
    assert "导入读数" in web.get("/admin/billing/meterreading/").content.decode()
    bad = SimpleUploadedFile(
        "r.csv", "户号,起始读数,结束读数,单位,抄表日期\nX,1,2,GJ,2027-03-16\n".encode()
    )
    refused = web.post("/admin/billing/meterreading/import/", {"season": season.pk, "file": bad})
    assert refused.status_code == 422
    assert "户号不存在" in refused.content.decode()
    assert not MeterReading.objects.exists()
    good = SimpleUploadedFile(
        "r.csv", "户号,起始读数,结束读数,单位,抄表日期\nHT10000001,1,2,GJ,2027-03-16\n".encode()
    )
    done = web.post("/admin/billing/meterreading/import/", {"season": season.pk, "file": good})
    assert done.status_code == 302
    assert MeterReading.objects.get().house == house_a


def test_the_import_page_needs_its_permission(season):
    viewer = staff_web("viewer", "view_meterreading")
    assert viewer.get("/admin/billing/meterreading/import/").status_code == 403


def test_bills_are_adjusted_with_an_amount_and_a_reason(web, season, tariff, house_a, operator):
    bill = services.bill_issue(house=house_a, season=season, issued_by=operator)
    for amount, reason in (("abc", "原因"), ("-10.005", "原因"), ("-50", "")):
        web.post(
            "/admin/billing/bill/",
            {
                "action": "adjust_selected",
                "_selected_action": [bill.pk],
                "amount_yuan": amount,
                "reason": reason,
            },
        )
    assert BillLine.objects.filter(bill=bill).count() == 1
    web.post(
        "/admin/billing/bill/",
        {
            "action": "adjust_selected",
            "_selected_action": [bill.pk],
            "amount_yuan": "-50",
            "reason": "面积核减",
        },
    )
    assert list(BillLine.objects.filter(bill=bill).values_list("amount_fen", "reason")) == [
        (223750, ""),
        (-5000, "面积核减"),
    ]
    ledger_page = web.get("/admin/billing/ledgerentry/")
    assert ledger_page.status_code == 200
    assert "-¥50.00" in ledger_page.content.decode()
