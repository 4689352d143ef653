"""报停/复供 pages: apply for a bound house, see the applications' status, field errors in
Chinese, refusals that change nothing, and nobody else's house by URL."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import services
from heatdesk.billing.models import HeatingChange
from heatdesk.billing.services.heating_changes import heating_change_reject
from heatdesk.billing.tests.factories import dates_of, make_season, make_tariff
from heatdesk.core.clock import SHANGHAI

BEFORE_DEADLINE = dt.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI)
AFTER_DEADLINE = dt.datetime(2026, 10, 20, 9, tzinfo=SHANGHAI)


@pytest.fixture
def season(db):
    return make_season()


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(house) -> str:
    return f"/m/houses/{house.public_id}/heating/"


def _form(**fields: str) -> dict[str, str]:
    return {"kind": "stop", "season": "2026-2027", "requested_from": "", "note": "", **fields}


def test_a_resident_applies_to_stop_heating_and_sees_it_pending(resident, bound_house_a, season):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        client = _signed_in(resident)
        page = client.get(_url(bound_house_a)).content.decode()
        assert "正常供热" in page
        assert "须在 2026-10-15 前申请" in page
        response = client.post(_url(bound_house_a), _form(note="全家外出过冬"))
        assert (response.status_code, response["Location"]) == (302, _url(bound_house_a))
        html = client.get(_url(bound_house_a)).content.decode()
    [change] = HeatingChange.objects.all()
    assert (change.house_id, change.kind, change.status) == (bound_house_a.pk, "stop", "pending")
    assert change.requested_from == season.heating_start
    assert change.note == "全家外出过冬"
    assert change.applicant_id == resident.pk
    assert "申请已提交" in html
    assert "待审核" in html
    assert 'data-testid="heating-pending"' in html
    assert 'data-testid="heating-form"' not in html
    assert "2026-11-15" in html


def test_a_rejected_application_shows_the_reason(resident, bound_house_a, season, finance):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        client = _signed_in(resident)
        client.post(_url(bound_house_a), _form())
        heating_change_reject(change=HeatingChange.objects.get(), by=finance, reason="材料不全")
        html = client.get(_url(bound_house_a)).content.decode()
    assert "已驳回" in html
    assert "材料不全" in html


def test_field_errors_show_in_chinese_and_nothing_is_saved(resident, bound_house_a, season):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        client = _signed_in(resident)
        empty = client.post(_url(bound_house_a), {})
        bad_date = client.post(_url(bound_house_a), _form(requested_from="2026-13-45"))
        outside = client.post(_url(bound_house_a), _form(requested_from="2027-06-01"))
        long_note = client.post(_url(bound_house_a), _form(note="长" * 201))
    assert "请选择报停或复供。" in empty.content.decode()
    assert "请选择采暖季。" in empty.content.decode()
    assert "请输入正确的日期" in bad_date.content.decode()
    assert "生效日须在采暖季 2026-11-15至2027-03-15 之内。" in outside.content.decode()
    assert 'aria-invalid="true"' in outside.content.decode()
    assert "说明不能超过200字。" in long_note.content.decode()
    for response in (empty, bad_date, outside, long_note):
        assert response.status_code == 200
    assert not HeatingChange.objects.exists()
    assert not AuditEntry.objects.filter(action="billing.heating_change_apply").exists()


def test_after_the_deadline_the_refusal_is_shown_and_nothing_changes(
    resident, bound_house_a, season
):
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        response = _signed_in(resident).post(_url(bound_house_a), _form())
    html = response.content.decode()
    assert response.status_code == 200
    assert "已过截止日期" in html
    assert not HeatingChange.objects.exists()


def test_arrears_from_earlier_seasons_must_be_paid_first(resident, bound_house_a, season, finance):
    older = make_season(**dates_of(2025), late_fee_kind="none")
    make_tariff(older, area_price=Decimal("24.00"))
    services.bill_issue(house=bound_house_a, season=older, issued_by=finance)
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        html = _signed_in(resident).post(_url(bound_house_a), _form()).content.decode()
    assert "往年欠费 2,148.00元 未缴清" in html
    assert not HeatingChange.objects.exists()


def test_a_second_pending_application_is_refused(resident, bound_house_a, season):
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        client = _signed_in(resident)
        client.post(_url(bound_house_a), _form())
        again = client.post(_url(bound_house_a), _form(kind="stop"))
    assert "该户已有待审核的报停/复供申请，请等待审核结果。" in again.content.decode()
    assert HeatingChange.objects.count() == 1


def test_refusals_read_in_english_too(resident, bound_house_a, season):
    with time_machine.travel(AFTER_DEADLINE, tick=False):
        client = _signed_in(resident)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        html = client.post(_url(bound_house_a), _form()).content.decode()
    assert "The application deadline for this heating season has passed." in html


def test_another_residents_house_is_not_found_and_nothing_is_applied(
    neighbour_client, bound_house_a, season
):
    assert neighbour_client.get(_url(bound_house_a)).status_code == 404
    assert neighbour_client.post(_url(bound_house_a), _form()).status_code == 404
    assert not HeatingChange.objects.exists()
