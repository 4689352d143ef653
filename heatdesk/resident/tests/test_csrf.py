"""Every resident form refuses a post without its CSRF token, and changes nothing."""

import pytest
from django.test import Client

from heatdesk.accounts.models import SmsCode
from heatdesk.estates.models import HouseBinding
from heatdesk.sandbox.models import SandboxSms


@pytest.fixture
def strict_client(resident):
    client = Client(enforce_csrf_checks=True)
    client.force_login(resident)
    return client


@pytest.mark.django_db
def test_sending_a_code_without_the_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/m/login/", {"action": "send", "phone": "13512340000"})
    assert response.status_code == 403
    assert not SandboxSms.objects.exists()
    assert not SmsCode.objects.exists()


def test_binding_without_the_token_is_refused(strict_client, house_a):
    form = {"account_no": "HT10000001", "method": "owner_name", "owner_name": "王秀英"}
    response = strict_client.post("/m/houses/bind/", {**form, "relation": "owner"})
    assert response.status_code == 403
    assert not HouseBinding.objects.exists()


def test_unbinding_without_the_token_is_refused(strict_client, resident, bound_house_a):
    response = strict_client.post(f"/m/houses/{bound_house_a.public_id}/unbind/")
    assert response.status_code == 403
    assert HouseBinding.objects.get(user=resident).ended_at is None


def test_logging_out_without_the_token_is_refused(strict_client, resident):
    assert strict_client.post("/m/logout/").status_code == 403
    assert strict_client.session.get("_auth_user_id") == str(resident.pk)


def test_the_token_the_page_gives_is_accepted(strict_client, resident, house_a):
    page = strict_client.get("/m/houses/bind/")
    token = page.context["csrf_token"]
    form = {"account_no": "HT10000001", "method": "owner_name", "owner_name": "王秀英"}
    response = strict_client.post(
        "/m/houses/bind/", {**form, "relation": "owner", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    assert HouseBinding.objects.filter(user=resident, ended_at=None).count() == 1
