"""Binding a house: the owner check, its limits, unbinding, staff binding and the audit log."""

import datetime as dt

import pytest
import time_machine
from django.db import transaction

from heatdesk.accounts.services import token_issue
from heatdesk.audit.models import AuditEntry
from heatdesk.core.errors import PermissionDenied
from heatdesk.estates.models import HouseBinding
from heatdesk.estates.services import house_bind_by_staff
from heatdesk.testing import ApiClient, make_house, make_resident

START = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)


def bind(api: ApiClient, account_no: str, **check: str):
    return api.post("houses/bind", {"account_no": account_no, "relation": "owner", **check})


def listed(api: ApiClient) -> list[str]:
    response = api.get("houses")
    assert response.status_code == 200, response.content
    return [h["id"] for h in response.json()]


def assert_nothing_bound() -> None:
    assert not HouseBinding.objects.exists()
    assert not AuditEntry.objects.exists()


def assert_owner_check_failed(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "owner_check_failed"
    return body


# The owner check


@pytest.mark.parametrize(
    "payload",
    [
        {"relation": "owner"},
        {"relation": "owner", "owner_name": "   "},
        {"relation": "owner", "owner_name": "", "phone_last4": ""},
    ],
    ids=["no-check", "blank-name", "both-empty"],
)
def test_binding_without_an_owner_check_is_refused(resident_api, house_a, payload):
    response = resident_api.post("houses/bind", {"account_no": house_a.account_no, **payload})
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    assert "owner_name" in response.json()["fields"]
    assert_nothing_bound()
    assert listed(resident_api) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"account_no": "", "relation": "owner", "owner_name": "王秀英"}, "account_no"),
        ({"account_no": "HT10000001", "relation": "boss", "owner_name": "王秀英"}, "relation"),
        ({"account_no": "HT10000001", "relation": "owner", "phone_last4": "22a2"}, "phone_last4"),
        ({"account_no": "HT10000001", "relation": "owner", "phone_last4": "22"}, "phone_last4"),
        ({"account_no": "HT10000001", "relation": "owner", "phone_last4": "222222"}, "phone_last4"),
    ],
)
def test_malformed_bind_requests_are_422(resident_api, house_a, payload, field):
    response = resident_api.post("houses/bind", payload)
    assert response.status_code == 422, response.content
    assert field in response.json()["fields"]
    assert_nothing_bound()


@pytest.mark.parametrize(
    "check",
    [
        {"owner_name": "王秀"},
        {"owner_name": "李强"},
        {"phone_last4": "2223"},
        {"phone_last4": "1111"},
    ],
)
def test_a_wrong_owner_check_binds_nothing(resident_api, house_a, check):
    body = assert_owner_check_failed(bind(resident_api, house_a.account_no, **check))
    # and the answer does not say which part was wrong or what is on file
    assert "王秀英" not in str(body)
    assert "2222" not in str(body)
    assert_nothing_bound()
    assert listed(resident_api) == []


def test_an_unknown_account_number_gets_the_same_answer_as_a_wrong_owner(resident_api, house_a):
    unknown = bind(resident_api, "HT99999999", owner_name="王秀英")
    wrong_owner = bind(resident_api, house_a.account_no, owner_name="李强")
    assert unknown.status_code == wrong_owner.status_code == 400
    assert unknown.content == wrong_owner.content
    assert_nothing_bound()


@pytest.mark.parametrize(
    "check",
    [
        {"owner_name": "王秀英"},
        {"owner_name": " 王 秀英 "},
        {"phone_last4": "2222"},
        {"owner_name": "", "phone_last4": "2222"},
    ],
    ids=["name", "name-with-spaces", "last4", "last4-blank-name"],
)
def test_the_right_name_or_last_four_digits_bind_the_house(resident, resident_api, house_a, check):
    # when
    response = bind(resident_api, house_a.account_no, **check)
    # then the house comes back and is listed
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == house_a.public_id
    assert body["account_no"] == "HT10000001"
    assert body["relation"] == "owner"
    assert body["owner_name_masked"] == "王**"
    assert listed(resident_api) == [house_a.public_id]
    binding = HouseBinding.objects.get()
    assert (binding.user_id, binding.house_id, binding.ended_at) == (resident.pk, house_a.pk, None)
    assert binding.created_by is None


def test_binding_twice_returns_the_same_binding(resident_api, house_a):
    first = bind(resident_api, house_a.account_no, owner_name="王秀英")
    second = bind(resident_api, house_a.account_no, phone_last4="2222")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert HouseBinding.objects.count() == 1
    assert AuditEntry.objects.filter(action="house.bind").count() == 1


def test_two_residents_may_bind_the_same_house(resident_api, neighbour_api, house_a):
    assert bind(resident_api, house_a.account_no, owner_name="王秀英").status_code == 201
    response = neighbour_api.post(
        "houses/bind",
        {"account_no": house_a.account_no, "relation": "family", "phone_last4": "2222"},
    )
    assert response.status_code == 201
    assert response.json()["relation"] == "family"
    assert HouseBinding.objects.filter(house=house_a, ended_at=None).count() == 2


# Limits


def test_repeated_failures_lock_binding_even_with_the_right_data(resident_api, house_a, settings):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(settings.BIND_FAILURES_PER_HOUR):
            assert_owner_check_failed(bind(resident_api, house_a.account_no, phone_last4="0000"))
        # when the right data comes after the limit
        response = bind(resident_api, house_a.account_no, owner_name="王秀英")
        # then it is refused, and nothing is bound
        assert response.status_code == 429, response.content
        assert response.json()["code"] == "bind_locked"
        assert response["Retry-After"] == "3600"
        assert_nothing_bound()
        # a different house is locked for this resident too (the limit is per resident)
        other = make_house(owner_name="赵六")
        assert bind(resident_api, other.account_no, owner_name="赵六").status_code == 429
        assert_nothing_bound()
        # and after the hour, the right data binds
        clock.shift(dt.timedelta(hours=1))
        assert bind(resident_api, house_a.account_no, owner_name="王秀英").status_code == 201


def test_one_resident_failing_on_purpose_does_not_lock_the_owners_out(
    resident_api, neighbour_api, house_a, settings
):
    # given a neighbour failing house A's owner check until they are locked
    with time_machine.travel(START, tick=False):
        for _ in range(settings.BIND_FAILURES_PER_HOUR):
            assert_owner_check_failed(bind(neighbour_api, house_a.account_no, phone_last4="0000"))
        assert bind(neighbour_api, house_a.account_no, owner_name="王秀英").status_code == 429
        assert_nothing_bound()
        # then another resident with the right owner check still binds house A
        response = bind(resident_api, house_a.account_no, owner_name="王秀英")
        assert response.status_code == 201, response.content
        assert HouseBinding.objects.get().house_id == house_a.pk


def test_the_per_house_limit_is_far_above_the_per_resident_limit(settings):
    from heatdesk.config import settings as defaults

    assert defaults.BIND_HOUSE_FAILURES_PER_HOUR >= 5 * defaults.BIND_FAILURES_PER_HOUR


def alerts(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "heatdesk.security"]


def test_guessing_one_house_from_many_accounts_pauses_it_for_all_but_the_owner(
    house_a, settings, caplog
):
    settings.BIND_HOUSE_FAILURES_PER_HOUR = 3 * settings.BIND_FAILURES_PER_HOUR
    guessers = [ApiClient(token_issue(user=make_resident(f"1370000{i:04d}"))) for i in range(4)]
    with time_machine.travel(START, tick=False), caplog.at_level("WARNING", "heatdesk.security"):
        # given three accounts using up their tries on house A: the house cap is reached
        for api in guessers[:3]:
            for _ in range(settings.BIND_FAILURES_PER_HOUR):
                assert_owner_check_failed(bind(api, house_a.account_no, phone_last4="0000"))
        assert alerts(caplog) == []
        # when a fourth account comes, even with the right owner name, it is refused
        for _ in range(2):
            response = bind(guessers[3], house_a.account_no, owner_name="王秀英")
            assert response.status_code == 429, response.content
            assert response.json()["code"] == "bind_locked"
            assert response["Retry-After"] == "3600"
        assert_nothing_bound()
        # and one warning names the house
        assert len(alerts(caplog)) == 1
        assert "HT10000001" in alerts(caplog)[0]
        # and the fourth account's own tries were not used up by the refusals
        other = make_house(owner_name="赵六")
        assert bind(guessers[3], other.account_no, owner_name="赵六").status_code == 201
        # but the owner, signed in with the phone on file for house A, still binds it
        owner = ApiClient(token_issue(user=make_resident("13911112222")))
        response = bind(owner, house_a.account_no, owner_name="王秀英")
        assert response.status_code == 201, response.content
        assert set(HouseBinding.objects.values_list("house__account_no", flat=True)) == {
            "HT10000001",
            other.account_no,
        }


def test_failures_across_the_hour_boundary_count_together(resident_api, house_a, settings):
    # given failures two seconds before 11:00 and two seconds after it
    with time_machine.travel(START + dt.timedelta(minutes=59, seconds=58), tick=False) as clock:
        for _ in range(3):
            assert_owner_check_failed(bind(resident_api, house_a.account_no, owner_name="错"))
        clock.shift(dt.timedelta(seconds=4))
        for _ in range(settings.BIND_FAILURES_PER_HOUR - 3):
            assert_owner_check_failed(bind(resident_api, house_a.account_no, owner_name="错"))
        # then the next try is locked (a fixed hourly window would have started afresh)
        response = bind(resident_api, house_a.account_no, owner_name="王秀英")
        assert response.status_code == 429, response.content
        assert_nothing_bound()
        # and an hour without failures unlocks it
        clock.shift(dt.timedelta(hours=1))
        assert bind(resident_api, house_a.account_no, owner_name="王秀英").status_code == 201


def test_a_resident_binds_at_most_the_maximum_number_of_houses(resident_api, settings):
    settings.MAX_HOUSES_PER_RESIDENT = 2
    houses = [make_house(owner_name=f"户主{i}") for i in range(3)]
    for house in houses[:2]:
        assert bind(resident_api, house.account_no, owner_name=house.owner_name).status_code == 201
    # when a third house is bound
    response = bind(resident_api, houses[2].account_no, owner_name="户主2")
    # then it is refused and not bound
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "house_limit_reached"
    assert HouseBinding.objects.filter(ended_at=None).count() == 2
    assert houses[2].public_id not in listed(resident_api)
    # binding one already bound is still fine, and after unbinding one the third binds
    assert bind(resident_api, houses[0].account_no, owner_name="户主0").status_code == 201
    assert resident_api.delete(f"houses/{houses[0].public_id}/binding").status_code == 204
    assert bind(resident_api, houses[2].account_no, owner_name="户主2").status_code == 201
    assert sorted(listed(resident_api)) == sorted([houses[1].public_id, houses[2].public_id])


# Unbinding


def test_unbinding_ends_the_binding_and_keeps_the_row(resident, resident_api, house_a):
    bind(resident_api, house_a.account_no, owner_name="王秀英")
    with time_machine.travel(START, tick=False):
        response = resident_api.delete(f"houses/{house_a.public_id}/binding")
    assert response.status_code == 204
    binding = HouseBinding.objects.get()
    assert binding.ended_at == START
    assert binding.ended_by_id == resident.pk
    assert listed(resident_api) == []
    detail = resident_api.get(f"houses/{house_a.public_id}")
    assert detail.status_code == 404
    assert detail.json()["code"] == "house_not_found"
    # a second unbind finds nothing
    again = resident_api.delete(f"houses/{house_a.public_id}/binding")
    assert again.status_code == 404
    assert again.json()["code"] == "house_not_found"
    assert HouseBinding.objects.get().ended_at == START


def test_binding_again_after_unbinding_makes_a_new_binding(resident_api, house_a):
    bind(resident_api, house_a.account_no, owner_name="王秀英")
    resident_api.delete(f"houses/{house_a.public_id}/binding")
    second = bind(resident_api, house_a.account_no, owner_name="王秀英")
    assert second.status_code == 201
    assert HouseBinding.objects.count() == 2
    assert HouseBinding.objects.filter(ended_at=None).count() == 1
    assert listed(resident_api) == [house_a.public_id]


# Staff binding


def test_an_agent_binds_a_house_for_a_resident(agent, resident, house_a):
    binding = house_bind_by_staff(
        staff=agent, resident=resident, house=house_a, relation="tenant", reason="带房产证到柜台"
    )
    assert (binding.user_id, binding.house_id, binding.created_by_id) == (
        resident.pk,
        house_a.pk,
        agent.pk,
    )
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_id, entry.actor_label) == ("house.bind", agent.pk, "agent1")
    assert entry.object_id == str(binding.pk)
    assert house_a.public_id in listed(login_client(resident))


def login_client(user) -> ApiClient:
    from heatdesk.accounts.services import token_issue

    return ApiClient(token_issue(user=user))


def test_a_collector_may_not_bind_houses(collector, resident, house_a):
    with pytest.raises(PermissionDenied):
        house_bind_by_staff(staff=collector, resident=resident, house=house_a, relation="owner")
    assert_nothing_bound()


def test_staff_binding_checks_the_relation(agent, resident, house_a):
    from heatdesk.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        house_bind_by_staff(staff=agent, resident=resident, house=house_a, relation="boss")
    assert_nothing_bound()


# The audit log


def test_bind_and_unbind_are_audited(resident, resident_api, house_a):
    with time_machine.travel(START, tick=False):
        bind(resident_api, house_a.account_no, owner_name="王秀英")
        resident_api.delete(f"houses/{house_a.public_id}/binding")
    binding = HouseBinding.objects.get()
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == ["house.bind", "house.unbind"]
    for entry in entries:
        assert entry.actor_id == resident.pk
        assert entry.actor_label == resident.public_id
        assert (entry.object_type, entry.object_id) == ("estates.housebinding", str(binding.pk))
        assert entry.occurred_at == START
        assert entry.ip == "10.9.8.7"
    assert entries[0].after == {
        "user": resident.public_id,
        "house": "HT10000001",
        "relation": "owner",
    }
    assert (entries[1].before, entries[1].after) == ({"active": True}, {"active": False})
    # a refused bind writes nothing
    bind(resident_api, house_a.account_no, owner_name="李强")
    assert AuditEntry.objects.count() == 2


def test_audit_entries_cannot_be_changed_or_deleted(agent, resident, house_a):
    house_bind_by_staff(staff=agent, resident=resident, house=house_a, relation="owner")
    entry = AuditEntry.objects.get()
    entry.action = "house.nothing"
    with pytest.raises(RuntimeError, match="append-only"):
        entry.save()
    with pytest.raises(RuntimeError, match="append-only"):
        entry.delete()
    with pytest.raises(RuntimeError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(action="house.nothing")
    with pytest.raises(RuntimeError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    # bulk_update runs in its own atomic block: keep the failure inside a savepoint
    with pytest.raises(RuntimeError, match="append-only"), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["action"])
    stored = AuditEntry.objects.get()
    assert (stored.pk, stored.action, stored.actor_id) == (entry.pk, "house.bind", agent.pk)


def test_concurrent_wrong_guesses_get_no_more_checks_than_the_limit(
    resident, house_a, monkeypatch, settings
):
    """Deterministic race: every attempt reaches the owner check before any has failed, as
    when many arrive at once. Counting an attempt before checking keeps the total at the limit."""
    from heatdesk.core.errors import ApplicationError
    from heatdesk.estates import services

    real_check = services.owner_check_passes
    checked: list[str] = []
    outcomes: list[str] = []

    def next_attempt_arrives_first(*, house, owner_name="", phone_last4=""):
        checked.append(phone_last4)
        if len(checked) + len(outcomes) < 12:
            try:
                services.house_bind(
                    user=resident,
                    account_no=house_a.account_no,
                    relation="owner",
                    phone_last4=f"{len(checked):04d}",
                )
            except ApplicationError as exc:
                outcomes.append(exc.code)
        return real_check(house=house, owner_name=owner_name, phone_last4=phone_last4)

    monkeypatch.setattr(services, "owner_check_passes", next_attempt_arrives_first)
    with pytest.raises(ApplicationError):
        services.house_bind(
            user=resident, account_no=house_a.account_no, relation="owner", phone_last4="9999"
        )
    assert len(checked) == settings.BIND_FAILURES_PER_HOUR
    assert outcomes.count("owner_check_failed") == settings.BIND_FAILURES_PER_HOUR - 1
    assert "bind_locked" in outcomes
    assert_nothing_bound()


def test_a_successful_bind_does_not_count_as_a_failure(resident_api, settings):
    houses = [make_house(owner_name=f"户主{i}") for i in range(settings.BIND_FAILURES_PER_HOUR)]
    with time_machine.travel(START, tick=False):
        assert_owner_check_failed(bind(resident_api, houses[0].account_no, owner_name="错"))
        for house in houses:
            assert (
                bind(resident_api, house.account_no, owner_name=house.owner_name).status_code == 201
            )
        # four more failures are still allowed before the lock
        for _ in range(settings.BIND_FAILURES_PER_HOUR - 2):
            assert_owner_check_failed(bind(resident_api, "HT99999999", owner_name="错"))
        assert_owner_check_failed(bind(resident_api, "HT99999998", owner_name="错"))
        assert bind(resident_api, "HT99999997", owner_name="错").json()["code"] == "bind_locked"
