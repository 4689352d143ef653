"""Home, binding, a house's page and unbinding, through Django's test client."""

import pytest
from django.test import Client

from heatdesk.estates.models import House, HouseBinding
from heatdesk.estates.services import house_bind
from heatdesk.testing import make_house

BIND = "/m/houses/bind/"


def _bind_form(account_no: str, **fields: str) -> dict[str, str]:
    return {
        "account_no": account_no,
        "method": "owner_name",
        "owner_name": "",
        "phone_last4": "",
        "relation": "owner",
        **fields,
    }


def _active_bindings(user) -> list[HouseBinding]:
    return list(HouseBinding.objects.filter(user=user, ended_at=None))


def test_home_lists_only_my_bound_houses_with_address_and_status(
    resident_client, resident, bound_house_a, house_b, neighbour
):
    house_bind(user=neighbour, account_no=house_b.account_no, relation="owner", owner_name="李强")
    stopped = make_house(account_no="HT30000009", owner_name="王秀英")
    House.objects.filter(pk=stopped.pk).update(heating_status=House.HeatingStatus.STOPPED)
    house_bind(user=resident, account_no="HT30000009", relation="family", owner_name="王秀英")

    html = resident_client.get("/m/").content.decode()

    assert bound_house_a.address in html
    assert "HT10000001" in html
    assert f'href="/m/houses/{bound_house_a.public_id}/"' in html
    assert "正常供热" in html
    assert "已报停" in html
    assert house_b.address not in html
    assert "HT10000002" not in html
    assert "138****5678" in html


def test_home_without_houses_offers_binding(resident_client):
    html = resident_client.get("/m/").content.decode()
    assert "还没有绑定房屋" in html
    assert f'href="{BIND}"' in html


def test_binding_by_owner_name_creates_one_binding_and_opens_the_house(
    resident_client, resident, house_a
):
    response = resident_client.post(BIND, _bind_form("HT10000001", owner_name="王秀英"))
    assert (response.status_code, response["Location"]) == (302, f"/m/houses/{house_a.public_id}/")
    [binding] = _active_bindings(resident)
    assert (binding.house_id, binding.relation) == (house_a.pk, "owner")
    page = resident_client.get(response["Location"]).content.decode()
    assert "绑定成功" in page
    assert house_a.address in page


def test_binding_by_the_owners_phone_last_four_works(resident_client, resident, house_a):
    form = _bind_form("HT10000001", method="phone_last4", phone_last4="2222", relation="tenant")
    response = resident_client.post(BIND, form)
    assert response["Location"] == f"/m/houses/{house_a.public_id}/"
    [binding] = _active_bindings(resident)
    assert binding.relation == "tenant"


def test_a_double_tap_on_bind_never_creates_two_bindings(resident_client, resident, house_a):
    form = _bind_form("HT10000001", owner_name="王秀英")
    first = resident_client.post(BIND, form)
    second = resident_client.post(BIND, form)
    assert first["Location"] == second["Location"] == f"/m/houses/{house_a.public_id}/"
    assert HouseBinding.objects.filter(user=resident).count() == 1


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"owner_name": "王秀"}, "owner_name"),
        ({"method": "phone_last4", "phone_last4": "1234"}, "phone_last4"),
        ({"account_no": "HT99999999", "owner_name": "王秀英"}, "owner_name"),
    ],
    ids=["wrong-name", "wrong-phone-last4", "unknown-account"],
)
def test_a_failed_owner_check_shows_on_the_field_used_and_binds_nothing(
    resident_client, resident, house_a, fields, error_field
):
    form = {**_bind_form("HT10000001"), **fields}
    response = resident_client.post(BIND, form)
    html = response.content.decode()
    assert response.status_code == 200
    mismatch = "户号与户主信息不匹配，请核对后重试。"
    assert f'<p class="field-error" id="id_{error_field}-error">{mismatch}</p>' in html
    assert 'value="HT' in html  # what was typed stays in the form
    assert not HouseBinding.objects.exists()


def test_an_empty_bind_form_explains_every_field(resident_client):
    html = resident_client.post(BIND, {"method": "owner_name"}).content.decode()
    assert '<p class="field-error" id="id_account_no-error">请输入户号。</p>' in html
    assert '<p class="field-error" id="id_owner_name-error">请输入户主姓名。</p>' in html
    assert '<p class="field-error" id="id_relation-error">请选择与户主的关系。</p>' in html
    assert not HouseBinding.objects.exists()


def test_phone_last_four_must_be_four_digits(resident_client, house_a):
    form = _bind_form("HT10000001", method="phone_last4", phone_last4="22a")
    html = resident_client.post(BIND, form).content.decode()
    assert '<p class="field-error" id="id_phone_last4-error">请输入4位数字。</p>' in html
    assert not HouseBinding.objects.exists()


def test_an_unknown_method_or_relation_is_refused(resident_client, house_a):
    form = _bind_form("HT10000001", owner_name="王秀英", method="id_card", relation="landlord")
    html = resident_client.post(BIND, form).content.decode()
    assert '<p class="field-error" id="id_method-error">请选择户主验证方式。</p>' in html
    assert '<p class="field-error" id="id_relation-error">请选择与户主的关系。</p>' in html
    assert not HouseBinding.objects.exists()


def test_repeated_failed_checks_are_rate_limited_even_for_the_right_owner(
    resident_client, house_a, settings
):
    settings.BIND_FAILURES_PER_HOUR = 2
    for _ in range(2):
        resident_client.post(BIND, _bind_form("HT10000001", owner_name="错误"))
    response = resident_client.post(BIND, _bind_form("HT10000001", owner_name="王秀英"))
    html = response.content.decode()
    assert '<div class="toptips" role="alert"' in html
    assert "验证失败次数过多，请一小时后再试或联系客服。" in html
    assert not HouseBinding.objects.exists()


def test_the_house_limit_is_explained_and_binding_is_no_longer_offered(
    resident_client, resident, bound_house_a, house_b, settings
):
    settings.MAX_HOUSES_PER_RESIDENT = 1
    response = resident_client.post(BIND, _bind_form("HT10000002", owner_name="李强"))
    assert "每位用户最多绑定1户，请先解绑不用的房屋。" in response.content.decode()
    assert [b.house_id for b in _active_bindings(resident)] == [bound_house_a.pk]
    assert f'href="{BIND}"' not in resident_client.get("/m/").content.decode()


def test_the_house_page_shows_the_house_and_my_binding(resident_client, bound_house_a):
    response = resident_client.get(f"/m/houses/{bound_house_a.public_id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert bound_house_a.address in html
    assert "HT10000001" in html
    assert "89.50 m²" in html
    assert "85.00 m²" in html
    assert "王**" in html
    assert "王秀英" not in html
    assert "户主本人" in html
    assert "正常供热" in html
    assert f'href="/m/houses/{bound_house_a.public_id}/unbind/"' in html


@pytest.mark.parametrize("suffix", ["", "unbind/"])
def test_another_residents_house_is_not_found(
    neighbour_client, neighbour, bound_house_a, resident, suffix
):
    response = neighbour_client.get(f"/m/houses/{bound_house_a.public_id}/{suffix}")
    assert response.status_code == 404
    html = response.content.decode()
    assert "未找到该页面或房屋" in html
    assert bound_house_a.address not in html
    assert _active_bindings(neighbour) == []


def test_posting_unbind_for_another_residents_house_changes_nothing(
    neighbour_client, resident, bound_house_a
):
    response = neighbour_client.post(f"/m/houses/{bound_house_a.public_id}/unbind/")
    assert response.status_code == 404
    [binding] = _active_bindings(resident)
    assert binding.house_id == bound_house_a.pk


@pytest.mark.parametrize("house_id", ["hs_DOESNOTEXIST0", "%20"])
def test_an_unknown_house_is_not_found(resident_client, house_id):
    assert resident_client.get(f"/m/houses/{house_id}/").status_code == 404


def test_unbinding_asks_first_then_ends_the_binding(resident_client, resident, bound_house_a):
    url = f"/m/houses/{bound_house_a.public_id}/unbind/"
    confirm = resident_client.get(url)
    assert confirm.status_code == 200
    assert "确定解除绑定吗？" in confirm.content.decode()
    assert len(_active_bindings(resident)) == 1  # asking changes nothing

    response = resident_client.post(url)
    assert (response.status_code, response["Location"]) == (302, "/m/")
    binding = HouseBinding.objects.get(user=resident)
    assert binding.ended_at is not None
    assert binding.ended_by_id == resident.pk
    home = resident_client.get("/m/").content.decode()
    assert "已解绑" in home
    assert "还没有绑定房屋" in home
    assert resident_client.get(f"/m/houses/{bound_house_a.public_id}/").status_code == 404


def test_a_second_unbind_is_not_found_and_changes_nothing(resident_client, resident, bound_house_a):
    url = f"/m/houses/{bound_house_a.public_id}/unbind/"
    resident_client.post(url)
    ended_at = HouseBinding.objects.get(user=resident).ended_at
    assert resident_client.post(url).status_code == 404
    assert HouseBinding.objects.get(user=resident).ended_at == ended_at


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/m/", BIND, "/m/houses/hs_X/", "/m/houses/hs_X/unbind/"], ids=str)
def test_pages_need_a_signed_in_resident(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/m/login/?next={url}"


def test_an_anonymous_bind_post_is_sent_to_log_in_and_binds_nothing(house_a):
    response = Client().post(BIND, _bind_form("HT10000001", owner_name="王秀英"))
    assert response["Location"] == f"/m/login/?next={BIND}"
    assert not HouseBinding.objects.exists()


@pytest.mark.django_db
def test_the_privacy_policy_is_public():
    response = Client().get("/m/privacy/")
    assert response.status_code == 200
    assert "我们收集的信息" in response.content.decode()
