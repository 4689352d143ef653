"""U+0000 anywhere in a request is refused with 400 before a view runs: PostgreSQL text cannot
hold it, so it would otherwise surface as a server error in the first lookup or write."""

import json

import pytest
from django.test import Client

from heatdesk.accounts.models import SmsCode
from heatdesk.estates.models import HouseBinding


def refused(response, where: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_characters"
    assert body["message"] == "请求中含有无效字符（空字符）。"
    assert list(body["fields"]) == [where]


@pytest.mark.django_db
def test_a_nul_in_a_query_parameter_is_refused(resident_api):
    refused(resident_api.get("bills?house_id=hs_a%00b"), "house_id")
    refused(resident_api.get("payments/records?%00=1"), "query")


@pytest.mark.django_db
def test_a_nul_in_a_path_parameter_is_refused(resident_api):
    refused(resident_api.get("houses/hs_a%00b"), "path")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"account_no": "HT1\x00", "relation": "owner", "owner_name": "王秀英"},
        {"account_no": "HT10000001", "relation": "owner", "owner_name": ["x", {"k": "\x00"}]},
        {"account_no": "HT10000001", "relation": "owner", "\x00": "x"},
    ],
)
def test_a_nul_inside_a_json_string_is_refused_and_nothing_is_written(
    resident_api, house_a, payload
):
    refused(resident_api.post("houses/bind", payload), "body")
    assert not HouseBinding.objects.exists()


@pytest.mark.django_db
def test_json_that_only_spells_a_backslash_u_is_not_refused(anon_api):
    # "\\u0000" in JSON is a backslash followed by "u0000": no NUL, so the API answers it
    answer = anon_api.post("auth/sms-code", {"phone": "\\u0000"})
    assert answer.status_code == 422, answer.content
    assert answer.json()["code"] == "validation_error"
    assert not SmsCode.objects.exists()


@pytest.mark.django_db
def test_a_raw_nul_byte_in_a_json_body_is_refused(anon_api):
    raw = json.dumps({"phone": "138\x0012345678"}).replace("\\u0000", "\x00")
    answer = anon_api.client.post("/api/v1/auth/sms-code", raw, content_type="application/json")
    assert answer.status_code in (400, 422), answer.content
    assert not SmsCode.objects.exists()


@pytest.mark.django_db
def test_a_page_with_a_nul_in_its_query_is_refused_in_plain_text():
    answer = Client().get("/m/login/?next=/m/%00")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("text/plain")
    assert "空字符" in answer.content.decode()
