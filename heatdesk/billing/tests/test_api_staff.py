"""The staff API: each operation needs its permission; runs start, preview, commit and report
progress; adjustments, decisions and imports go through the services and refuse bad input."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Permission

from heatdesk.accounts.models import User
from heatdesk.accounts.services import token_issue
from heatdesk.billing import services
from heatdesk.billing.models import Bill, BillingRun, BillLine, HeatingChange, MeterReading
from heatdesk.billing.services.heating_changes import heating_change_apply
from heatdesk.billing.tests.factories import season_fields
from heatdesk.core.clock import SHANGHAI
from heatdesk.testing import ApiClient, make_staff

pytestmark = pytest.mark.django_db


def staff_api(username: str, *perms: str) -> ApiClient:
    user = make_staff(username, "collector")
    for dotted in perms:
        app_label, codename = dotted.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return ApiClient(token_issue(user=User.objects.get(pk=user.pk)))


@pytest.fixture
def runner():
    return staff_api("runner", "billing.run_billing", "billing.view_billingrun")


@pytest.fixture
def bystander():
    return staff_api("bystander", "billing.view_bill")


def test_each_operation_needs_its_permission_and_changes_nothing_without_it(
    season, tariff, house_a, finance, bystander, resident_api
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    new_season = {
        k: (v.isoformat() if isinstance(v, dt.date) else str(v))
        for k, v in season_fields(code="2031-2032").items()
    }
    calls = [
        ("post", "billing/seasons/2026-2027/runs", {}),
        ("get", "billing/seasons/2026-2027/runs", None),
        ("post", f"billing/bills/{bill.public_id}/adjustments", {"amount_fen": 100, "reason": "x"}),
        ("post", "billing/heating-changes/hc_X/approve", {}),
        ("post", "billing/heating-changes/hc_X/reject", {"reason": "x"}),
        ("post", "billing/seasons/2026-2027/settlements", {}),
        ("post", "billing/seasons", new_season),
        ("post", "billing/seasons/2026-2027/close", {}),
        ("get", "billing/seasons/2026-2027/tariffs", None),
    ]
    for client in (bystander, resident_api):
        for method, path, body in calls:
            answer = client.post(path, body) if method == "post" else client.get(path)
            assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), path
    assert not BillingRun.objects.exists()
    assert list(BillLine.objects.values_list("kind", flat=True)) == ["area_fee"]
    assert list(season.__class__.objects.values_list("code", "status")) == [("2026-2027", "open")]


def test_a_run_is_started_previewed_then_committed_with_progress(
    season, tariff, house_a, house_b, runner, django_capture_on_commit_callbacks
):
    # when: started, the dry run is done in the background after the request commits
    with django_capture_on_commit_callbacks(execute=True):
        started = runner.post("billing/seasons/2026-2027/runs", {"batch_size": 1})
    assert started.status_code == 202
    run_id = started.json()["id"]
    assert started.json()["status"] == "previewing"
    preview = runner.get(f"billing/runs/{run_id}").json()
    assert (preview["status"], preview["processed"], preview["progress_percent"]) == (
        "previewed",
        2,
        100,
    )
    assert preview["preview"]["counts"]["bills"] == 2
    assert preview["preview"]["totals"][0]["amount_fen"] == 223750
    assert {a["kind"] for a in preview["preview"]["anomalies"]} == {
        "no_area",
        "no_tariff",
        "zero_amount",
        "duplicate_meter",
    }
    assert preview["result"] is None
    assert not Bill.objects.exists()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        committed = runner.post(f"billing/runs/{run_id}/commit")
    # then
    assert (committed.status_code, committed.json()["status"]) == (202, "committing")
    done = runner.get(f"billing/runs/{run_id}").json()
    assert (done["status"], done["result"]["counts"]["bills"]) == ("committed", 2)
    assert Bill.objects.filter(status="issued").count() == 2
    # a second commit of the same run is refused
    again = runner.post(f"billing/runs/{run_id}/commit")
    assert (again.status_code, again.json()["code"]) == (409, "run_not_previewed")
    assert [r["id"] for r in runner.get("billing/seasons/2026-2027/runs").json()] == [run_id]


def test_run_errors(season, tariff, runner):
    assert runner.get("billing/runs/br_NOPE").json()["code"] == "run_not_found"
    assert runner.post("billing/seasons/1999-2000/runs", {}).json()["code"] == "season_not_found"
    bad = runner.post("billing/seasons/2026-2027/runs", {"batch_size": 0})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    assert "batch_size" in bad.json()["fields"]
    assert not BillingRun.objects.exists()


def test_an_adjustment_needs_a_reason_and_a_live_bill(season, tariff, house_a, finance):
    api = staff_api("accountant", "billing.adjust_bill")
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    ok = api.post(
        f"billing/bills/{bill.public_id}/adjustments",
        {"amount_fen": -5000, "reason": "面积核减"},
    )
    assert ok.status_code == 201
    assert (ok.json()["kind"], ok.json()["amount_fen"], ok.json()["reason"]) == (
        "adjustment",
        -5000,
        "面积核减",
    )
    for body in ({"amount_fen": 0, "reason": "零"}, {"amount_fen": 100}, {"amount_fen": 1.5}):
        refused = api.post(f"billing/bills/{bill.public_id}/adjustments", body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
    services.bill_void(bill=bill, reason="重开", by=finance)
    void = api.post(f"billing/bills/{bill.public_id}/adjustments", {"amount_fen": 1, "reason": "x"})
    assert (void.status_code, void.json()["code"]) == (409, "bill_not_adjustable")
    missing = api.post("billing/bills/bl_NOPE/adjustments", {"amount_fen": 1, "reason": "x"})
    assert (missing.status_code, missing.json()["code"]) == (404, "bill_not_found")
    assert list(BillLine.objects.filter(bill=bill).values_list("amount_fen", flat=True)) == [
        223750,
        -5000,
    ]


def test_staff_decide_stop_and_resume_applications(season, tariff, house_a, resident, finance):
    api = staff_api("desk", "billing.decide_heating_change", "billing.view_heatingchange")
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    with time_machine.travel(dt.datetime(2026, 10, 1, tzinfo=SHANGHAI), tick=False):
        first = heating_change_apply(resident=resident, house=house_a, season=season, kind="stop")
    pending = api.get("billing/heating-changes").json()
    assert [c["id"] for c in pending] == [first.public_id]
    early = api.post(
        f"billing/heating-changes/{first.public_id}/approve", {"effective_from": "2026-11-01"}
    )
    assert (early.status_code, early.json()["code"]) == (422, "validation_error")
    assert HeatingChange.objects.get(pk=first.pk).status == "pending"
    approved = api.post(f"billing/heating-changes/{first.public_id}/approve", {})
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    assert Bill.objects.get(pk=bill.pk).total_fen == 67125
    again = api.post(f"billing/heating-changes/{first.public_id}/reject", {"reason": "迟了"})
    assert (again.status_code, again.json()["code"]) == (409, "application_decided")
    assert api.post("billing/heating-changes/hc_NOPE/approve", {}).status_code == 404


def test_meter_readings_are_imported_from_an_upload(season, tariff, house_a):
    api = staff_api("meters", "billing.import_meter_readings")
    good = "户号,起始读数,结束读数,单位,抄表日期\nHT10000001,1,31,GJ,2027-03-16\n".encode()
    answer = api.client.post(
        "/api/v1/billing/seasons/2026-2027/meter-readings",
        {"file": _upload("读数.csv", good)},
        headers=api._headers(),
    )
    assert answer.status_code == 201
    assert answer.json()["created"] == 1
    bad = "户号,起始读数,结束读数,单位,抄表日期\nHT404,1,31,GJ,2027-03-16\n".encode()
    refused = api.client.post(
        "/api/v1/billing/seasons/2026-2027/meter-readings",
        {"file": _upload("读数.csv", bad)},
        headers=api._headers(),
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "import_rows_invalid"
    assert refused.json()["fields"] == {"第2行 户号": ["户号不存在"]}
    wrong_type = api.client.post(
        "/api/v1/billing/seasons/2026-2027/meter-readings",
        {"file": _upload("读数.txt", good)},
        headers=api._headers(),
    )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (422, "import_file_type")
    assert MeterReading.objects.count() == 1


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_seasons_and_tariffs_through_the_api(db):
    api = staff_api(
        "operator",
        "billing.add_heatingseason",
        "billing.view_heatingseason",
        "billing.open_close_season",
        "billing.add_tariff",
        "billing.view_tariff",
    )
    fields = {
        k: (v.isoformat() if isinstance(v, dt.date) else str(v))
        for k, v in season_fields(code="2031-2032").items()
    }
    created = api.post("billing/seasons", fields)
    assert (created.status_code, created.json()["status"], created.json()["days"]) == (
        201,
        "draft",
        121,
    )
    bad = api.post("billing/seasons", {**fields, "code": "2032-2033", "heating_end": "2026-01-01"})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    assert api.post("billing/seasons/2031-2032/open").json()["status"] == "open"
    tariff = api.post(
        "billing/seasons/2031-2032/tariffs",
        {"usage_type": "residential", "user_type": "normal", "pricing": "area", "area_price": "25"},
    )
    assert (tariff.status_code, tariff.json()["version"]) == (201, 1)
    version = api.post(
        f"billing/tariffs/{tariff.json()['id']}/versions", {"changes": {"area_price": "26"}}
    )
    assert (version.status_code, version.json()["version"]) == (201, 2)
    unknown = api.post(f"billing/tariffs/{tariff.json()['id']}/versions", {"changes": {"x": 1}})
    assert (unknown.status_code, unknown.json()["fields"]) == (422, {"x": ["不是热价条款。"]})
    listed = api.get("billing/seasons/2031-2032/tariffs").json()
    assert sorted(t["version"] for t in listed) == [1, 2]
    assert [s["code"] for s in api.get("billing/seasons").json()] == ["2031-2032"]
