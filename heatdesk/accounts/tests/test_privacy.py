"""Privacy-policy consent: only the current version, kept with its time, and the policy page."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from heatdesk.accounts.models import PrivacyConsent, User
from heatdesk.accounts.services import token_issue
from heatdesk.testing import ApiClient, make_resident

START = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def newcomer(db):
    return make_resident("13812345678", consented=False)


@pytest.fixture
def api(newcomer):
    return ApiClient(token_issue(user=newcomer), ip="10.2.3.4")


def test_accepting_the_current_version_is_recorded_with_time_and_ip(newcomer, api, settings):
    assert api.get("me").json()["privacy_consent_required"] is True
    # when the current version is accepted
    with time_machine.travel(START, tick=False):
        response = api.post("me/privacy-consent", {"version": settings.PRIVACY_POLICY_VERSION})
    # then the answer and the database say so
    assert response.status_code == 200, response.content
    assert response.json()["privacy_consent_required"] is False
    assert response.json()["privacy_version_accepted"] == settings.PRIVACY_POLICY_VERSION
    consent = PrivacyConsent.objects.get()
    assert (consent.user_id, consent.version) == (newcomer.pk, settings.PRIVACY_POLICY_VERSION)
    assert consent.accepted_at == START
    assert consent.ip == "10.2.3.4"
    user = User.objects.get(pk=newcomer.pk)
    assert (user.privacy_version, user.privacy_accepted_at) == (
        settings.PRIVACY_POLICY_VERSION,
        START,
    )


def test_accepting_twice_keeps_one_row(newcomer, api, settings):
    for _ in range(2):
        response = api.post("me/privacy-consent", {"version": settings.PRIVACY_POLICY_VERSION})
        assert response.status_code == 200
    assert PrivacyConsent.objects.count() == 1


@pytest.mark.parametrize("version", ["2020-01", "", "2026-11 "])
def test_a_wrong_version_is_refused_and_nothing_is_stored(newcomer, api, settings, version):
    response = api.post("me/privacy-consent", {"version": version})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "privacy_version_mismatch"
    assert settings.PRIVACY_POLICY_VERSION in body["fields"]["version"][0]
    assert not PrivacyConsent.objects.exists()
    user = User.objects.get(pk=newcomer.pk)
    assert (user.privacy_version, user.privacy_accepted_at) == ("", None)


def test_a_new_policy_version_asks_for_consent_again(newcomer, api, settings):
    api.post("me/privacy-consent", {"version": settings.PRIVACY_POLICY_VERSION})
    settings.PRIVACY_POLICY_VERSION = "2027-03"
    assert api.get("me").json()["privacy_consent_required"] is True
    assert api.get("houses").json()["code"] == "privacy_consent_required"
    assert api.post("me/privacy-consent", {"version": "2027-03"}).status_code == 200
    assert list(PrivacyConsent.objects.order_by("version").values_list("version", flat=True)) == [
        "2026-11",
        "2027-03",
    ]


@pytest.mark.django_db
def test_the_policy_version_is_public(settings):
    response = ApiClient().get("privacy-policy")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == settings.PRIVACY_POLICY_VERSION
    assert body["url"].endswith("/privacy/")


def test_the_policy_page_shows_the_version(settings):
    settings.PRIVACY_POLICY_VERSION = "2031-07"
    response = Client().get("/privacy/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "隐私政策" in page
    assert "2031-07" in page
