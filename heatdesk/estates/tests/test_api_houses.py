"""The houses API: who may call it, and what one resident can learn about another's house."""

import pytest
from django.db import connection

from heatdesk.accounts.models import User
from heatdesk.accounts.services import token_issue
from heatdesk.estates.models import HouseBinding
from heatdesk.estates.services import house_bind_by_staff
from heatdesk.testing import ApiClient, make_house, make_resident


@pytest.fixture
def bound(agent, resident, house_a):
    """House A bound to the resident."""
    return house_bind_by_staff(staff=agent, resident=resident, house=house_a, relation="owner")


def private_calls(house_id: str, account_no: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", "houses", None),
        ("GET", f"houses/{house_id}", None),
        (
            "POST",
            "houses/bind",
            {"account_no": account_no, "relation": "owner", "owner_name": "王秀英"},
        ),
        ("DELETE", f"houses/{house_id}/binding", None),
    ]


# Privacy consent and a verified phone come first


@pytest.mark.parametrize("call", range(4), ids=["list", "detail", "bind", "unbind"])
def test_houses_need_privacy_consent(bound, house_a, call, settings):
    user = make_resident("13500001111", consented=False)
    HouseBinding.objects.create(user=user, house=house_a, relation="family")
    api = ApiClient(token_issue(user=user))
    bindings = list(HouseBinding.objects.values_list("pk", "ended_at"))
    method, path, body = private_calls(house_a.public_id, house_a.account_no)[call]
    # when
    response = api.request(method, path, body)
    # then
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "privacy_consent_required"
    assert list(HouseBinding.objects.values_list("pk", "ended_at")) == bindings
    # and once the current version is accepted, the call goes through
    api.post("me/privacy-consent", {"version": settings.PRIVACY_POLICY_VERSION})
    assert api.request(method, path, body).status_code in {200, 201, 204}


def test_a_wrong_consent_version_does_not_open_the_houses(resident_api, house_a):
    user = make_resident("13500001111", consented=False)
    api = ApiClient(token_issue(user=user))
    assert api.post("me/privacy-consent", {"version": "1999-01"}).status_code == 400
    assert api.get("houses").json()["code"] == "privacy_consent_required"
    assert User.objects.get(pk=user.pk).privacy_version == ""


@pytest.mark.parametrize("call", range(4), ids=["list", "detail", "bind", "unbind"])
def test_houses_need_a_verified_phone(house_a, call, settings):
    # a WeChat login that has not verified a phone (consent given, to isolate the check)
    user = User.objects.create_user(privacy_version=settings.PRIVACY_POLICY_VERSION)
    api = ApiClient(token_issue(user=user))
    method, path, body = private_calls(house_a.public_id, house_a.account_no)[call]
    response = api.request(method, path, body)
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "phone_verification_required"
    assert not HouseBinding.objects.exists()


def test_binding_requirements_say_what_is_missing(house_a, settings):
    user = make_resident("13500001111", consented=False)
    body = ApiClient(token_issue(user=user)).get("houses/binding-requirements").json()
    assert body["privacy_consent_required"] is True
    assert body["phone_verified"] is True
    assert body["max_houses"] == settings.MAX_HOUSES_PER_RESIDENT
    assert body["bound_houses"] == 0
    assert {r["value"] for r in body["relations"]} == {"owner", "family", "tenant"}


# A resident's own houses


def test_a_resident_sees_their_house(bound, resident_api, house_a):
    listing = resident_api.get("houses")
    assert listing.status_code == 200
    assert [h["id"] for h in listing.json()] == [house_a.public_id]
    detail = resident_api.get(f"houses/{house_a.public_id}")
    assert detail.status_code == 200
    body = detail.json()
    assert body == listing.json()[0]
    assert body["account_no"] == "HT10000001"
    assert body["owner_name_masked"] == "王**"
    assert "王秀英" not in detail.content.decode()
    assert "13911112222" not in detail.content.decode()


def test_the_house_list_costs_the_same_queries_for_one_house_or_many(
    agent, resident, resident_api, django_assert_max_num_queries
):
    house_bind_by_staff(staff=agent, resident=resident, house=make_house(), relation="owner")
    with django_assert_max_num_queries(4) as one:
        assert len(resident_api.get("houses").json()) == 1
    for _ in range(4):
        house_bind_by_staff(staff=agent, resident=resident, house=make_house(), relation="owner")
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert len(resident_api.get("houses").json()) == 5


# A neighbour learns nothing


def test_a_neighbour_gets_404_for_the_residents_house_and_learns_nothing(
    bound, neighbour_api, house_a
):
    missing = neighbour_api.get("houses/hs_0000000000000000")
    # when the neighbour reads and unbinds the resident's house
    detail = neighbour_api.get(f"houses/{house_a.public_id}")
    unbind = neighbour_api.delete(f"houses/{house_a.public_id}/binding")
    # then both are 404, exactly like a house that does not exist
    for response in (detail, unbind):
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "house_not_found"
        assert response.content == missing.content
        text = response.content.decode()
        for secret in ("HT10000001", "测试小区", "王", "13911112222", house_a.room):
            assert secret not in text
    # and the resident's binding is untouched
    assert HouseBinding.objects.get().ended_at is None


def test_a_neighbours_list_does_not_contain_the_residents_house(
    bound, agent, neighbour, neighbour_api, house_a, house_b
):
    assert neighbour_api.get("houses").json() == []
    house_bind_by_staff(staff=agent, resident=neighbour, house=house_b, relation="owner")
    assert [h["id"] for h in neighbour_api.get("houses").json()] == [house_b.public_id]


def test_an_ended_binding_gives_no_access(bound, resident, resident_api, house_a):
    resident_api.delete(f"houses/{house_a.public_id}/binding")
    assert resident_api.get(f"houses/{house_a.public_id}").status_code == 404
    assert resident_api.get("houses").json() == []


def test_the_list_shows_each_house_as_its_detail_does_in_binding_order(
    agent, resident, resident_api, django_assert_num_queries, settings
):
    # given three houses bound with different relations and statuses, and one binding ended
    first = make_house(owner_name="欧阳娜娜", heating_status="stopped")
    second = make_house(owner_name="李四", usage_type="non_residential", user_type="low_income")
    ended = make_house(owner_name="赵六")
    third = make_house(owner_name="王五", heating_status="disconnected")
    for house, relation in ((first, "tenant"), (second, "family"), (ended, "owner")):
        house_bind_by_staff(staff=agent, resident=resident, house=house, relation=relation)
    HouseBinding.objects.filter(house=ended).update(
        ended_at=HouseBinding.objects.get(house=ended).created_at
    )
    house_bind_by_staff(staff=agent, resident=resident, house=third, relation="owner")
    # when the resident lists their houses: the token check and the house list, sent together
    # in one round trip once both are prepared on the PostgreSQL connection
    resident_api.get("houses")
    one_trip = connection.vendor == "postgresql" and settings.DB_PREPARED_STATEMENTS
    with django_assert_num_queries(1 if one_trip else 2):
        listing = resident_api.get("houses")
    # then the list holds the bound houses in binding order, each exactly as its detail page
    assert listing.status_code == 200, listing.content
    body = listing.json()
    assert [h["id"] for h in body] == [first.public_id, second.public_id, third.public_id]
    for house in body:
        assert resident_api.get(f"houses/{house['id']}").json() == house
    assert body[0]["heating_status_label"] == "报停"
    assert body[0]["relation_label"] == "租户"
    assert body[0]["owner_name_masked"] == "欧***"
    assert body[1]["usage_type"] == "non_residential"
    assert body[1]["building_area"] == "89.50"
    assert body[2]["address"].endswith(f"{third.room}室")
    assert "欧阳娜娜" not in listing.content.decode()
