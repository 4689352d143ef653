"""`heatdesk demo` on an empty database: the city, its residents and staff logins, stored as
the rest of the code expects. The load (about 6 s on SQLite) happens once for the module, in a
transaction rolled back at its end; each test runs in a savepoint inside it, so what one test
writes is gone before the next. Tests that need an empty database first are in
test_demo_fresh.py."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from heatdesk.accounts.models import PrivacyConsent, User
from heatdesk.accounts.roles import ROLE_ADMIN, STAFF_ROLES
from heatdesk.accounts.services import phone_hash, privacy_consent_current, token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.estates import demo
from heatdesk.estates.models import Building, Community, House, HouseBinding, Unit
from heatdesk.estates.tests.demo_support import demo_output_once, load_demo  # noqa: F401
from heatdesk.testing import ApiClient

CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,12}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Community,
            Building,
            Unit,
            House,
            HouseBinding,
            User,
            PrivacyConsent,
            AuditEntry,
            Group,
        )
    }


def resident(phone: str) -> User:
    return User.objects.get(phone_hash=phone_hash(phone))


def bound_accounts(user: User) -> set[str]:
    return set(
        HouseBinding.objects.filter(user=user, ended_at=None).values_list(
            "house__account_no", flat=True
        )
    )


@pytest.mark.django_db
def test_demo_loads_a_city_of_communities_and_houses(demo_output):
    output = demo_output

    assert "演示数据已加载：4 个小区，2044 户" in output
    assert Community.objects.count() >= 3
    assert House.objects.count() >= 2000
    assert Building.objects.count() == 44
    assert Unit.objects.count() == 110
    names = set(Community.objects.values_list("name", flat=True))
    assert {"锦绣花园", "阳光新城"} <= names
    houses = House.objects.all()
    assert houses.filter(usage_type=House.UsageType.NON_RESIDENTIAL).count() == 8
    assert 0 < houses.filter(user_type=House.UserType.LOW_INCOME).count() < 100
    assert 0 < houses.exclude(meter_id="").count() < houses.count()
    for house in houses.select_related("unit__building__community")[:300]:
        assert Decimal(50) <= house.building_area <= Decimal(160)
        assert house.building_area.as_tuple().exponent == -2
        assert Decimal(0) < house.heated_area < house.building_area
        assert CHINESE_NAME.match(house.owner_name), house.owner_name
        assert house.owner_phone == "" or MOBILE.match(house.owner_phone)
        if house.owner_phone:
            assert house.owner_phone_hash == phone_hash(house.owner_phone)
        assert re.fullmatch(r"[\u4e00-\u9fff]+\d+号楼\d单元\d+室", house.address)


@pytest.mark.django_db
def test_demo_residents_are_bound_and_have_consented(demo_output):
    first, second, third = (resident(p) for p in ("13800000001", "13800000002", "13800000003"))

    assert bound_accounts(first) == {"HT010320502", "HT020611101"}
    assert bound_accounts(second) == {"HT030230301"}
    assert bound_accounts(third) == set()
    for user in (first, second, third):
        assert user.has_verified_phone
        assert privacy_consent_current(user)
        assert PrivacyConsent.objects.filter(user=user).count() == 1
    # The unbound resident can bind their own house by the owner check.
    assert House.objects.get(account_no="HT040511602").owner_name == "刘洋"
    assert House.objects.get(account_no="HT040511602").owner_phone == "13800000003"


@pytest.mark.django_db
def test_a_demo_resident_sees_their_houses_through_the_api(demo_output):
    api = ApiClient(token_issue(user=resident("13800000001")))

    response = api.get("houses")

    assert response.status_code == 200
    assert {h["account_no"] for h in response.json()} == {"HT010320502", "HT020611101"}
    assert {h["relation"] for h in response.json()} == {"owner", "family"}


@pytest.mark.django_db
def test_demo_creates_one_staff_login_per_role_with_the_printed_password(demo_output):
    output = demo_output

    for staff in demo.DEMO_STAFF:
        user = User.objects.get(username=staff.username)
        assert user.is_staff
        assert user.check_password(staff.password)
        assert list(user.groups.values_list("name", flat=True)) == [staff.role]
        assert user.is_superuser == (staff.role == ROLE_ADMIN)
        assert f"{staff.username} / {staff.password}" in output
    assert {s.role for s in demo.DEMO_STAFF} == set(STAFF_ROLES)
    assert User.objects.get(username="admin").check_password("heatdesk-admin")
    assert "13800000001" in output


@pytest.mark.django_db
def test_a_second_run_changes_nothing(demo_output, django_assert_max_num_queries):
    before = counts()
    consented_at = resident("13800000001").privacy_accepted_at

    with django_assert_max_num_queries(80):
        output = load_demo()

    assert counts() == before
    assert resident("13800000001").privacy_accepted_at == consented_at
    assert "演示数据已存在，未做改动。" in output
    assert "admin / heatdesk-admin" in output


@pytest.mark.django_db
def test_owner_phone_and_name_are_not_stored_in_plain_text(demo_output):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT owner_phone, owner_name, owner_phone_hash FROM estates_house "
            "WHERE account_no = %s",
            ["HT010320502"],
        )
        raw_phone, raw_name, stored_hash = cursor.fetchone()
        cursor.execute("SELECT owner_phone FROM estates_house WHERE owner_phone <> ''")
        raw_phones = [row[0] for row in cursor.fetchall()]

    assert "13800000001" not in raw_phone
    assert raw_phone.startswith("v1:")
    assert "张伟" not in raw_name
    assert stored_hash == phone_hash("13800000001")
    assert House.objects.get(account_no="HT010320502").owner_phone == "13800000001"
    assert len(raw_phones) > 1900
    assert not any(MOBILE.search(value) for value in raw_phones)


def test_the_generated_city_is_the_same_every_time():
    first, second = demo.city_plan(), demo.city_plan()

    assert first == second
    assert first != demo.city_plan(seed=demo.SEED + 1)
    assert len(first) == 2044
    assert len({h.account_no for h in first}) == len(first)
    by_account = {h.account_no: h for h in first}
    for owner in demo.DEMO_OWNERS:
        assert by_account[owner.account_no].owner_name == owner.name
        assert by_account[owner.account_no].owner_phone == owner.phone
    others = [h for h in first if h.account_no not in {o.account_no for o in demo.DEMO_OWNERS}]
    assert not any(h.owner_phone.startswith("1380000") for h in others)
    assert len({h.owner_name for h in others}) > 500
