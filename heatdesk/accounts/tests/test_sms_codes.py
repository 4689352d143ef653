"""SMS login codes: how often they are sent, how long they work, and what is stored."""

import datetime as dt

import pytest
import time_machine

from heatdesk.accounts.models import ApiToken, SmsCode, User
from heatdesk.accounts.services import phone_hash
from heatdesk.notifications.models import OutboundSms
from heatdesk.sandbox.models import SandboxSms
from heatdesk.testing import ApiClient, make_resident
from heatdesk.tests.support import latest_code, raw_value, tables_containing

PHONE = "13812345678"
OTHER = "13698765432"
# 10:00 in Shanghai
START = dt.datetime(2026, 1, 10, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock(db):
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def request_code(phone: str = PHONE, *, ip: str = "10.0.0.1", purpose: str = "login"):
    return ApiClient(ip=ip).post("auth/sms-code", {"phone": phone, "purpose": purpose})


def login(phone: str, code: str):
    return ApiClient().post("auth/login/sms", {"phone": phone, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def assert_refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "fields"}
    return body


def stored() -> tuple[int, int, int, int]:
    return (
        SmsCode.objects.count(),
        OutboundSms.objects.count(),
        SandboxSms.objects.count(),
        User.objects.count(),
    )


def test_a_code_is_sent_to_the_inbox_and_logs_in(clock):
    response = request_code()
    assert response.status_code == 202, response.content
    assert response.json() == {"sent": True, "retry_after": 60}
    code = latest_code(PHONE)
    login_response = login(PHONE, code)
    assert login_response.status_code == 200, login_response.content
    assert User.objects.filter(phone_hash=phone_hash(PHONE)).count() == 1
    assert SmsCode.objects.get().consumed_at == START


def test_a_second_request_within_the_interval_is_refused_until_it_passes(clock):
    assert request_code().status_code == 202
    before = stored()
    # when the same phone asks again at once, even from another IP
    response = request_code(ip="10.0.0.2")
    # then it is refused with the seconds left, and nothing new is stored or sent
    assert_refused(response, 429, "sms_too_soon")
    assert response["Retry-After"] == "60"
    assert stored() == before
    clock.shift(dt.timedelta(seconds=59))
    response = request_code()
    assert_refused(response, 429, "sms_too_soon")
    assert response["Retry-After"] == "1"
    assert stored() == before
    # another phone is not held up
    assert request_code(OTHER).status_code == 202
    # and after the interval the phone gets a new code
    clock.shift(dt.timedelta(seconds=2))
    assert request_code().status_code == 202
    assert SmsCode.objects.filter(phone_hash=phone_hash(PHONE)).count() == 2
    assert SandboxSms.objects.filter(phone=PHONE).count() == 2


def test_ten_codes_a_local_day_then_refused_until_shanghai_midnight(db):
    # given 07:50 in Shanghai, ten minutes before UTC midnight
    with time_machine.travel(dt.datetime(2026, 1, 9, 23, 50, tzinfo=dt.UTC), tick=False) as clock:
        for _ in range(10):
            assert request_code().status_code == 202
            clock.shift(dt.timedelta(seconds=61))
        # the UTC date has changed (00:00:10 UTC), the local one has not
        before = stored()
        response = request_code()
        body = assert_refused(response, 429, "sms_daily_limited")
        assert body["fields"] == {}
        # Retry-After runs to 00:00 in Shanghai, 16:00 UTC
        assert response["Retry-After"] == str(16 * 3600 - 10)
        assert stored() == before
        # one second before local midnight: still refused
        clock.move_to(dt.datetime(2026, 1, 10, 15, 59, 59, tzinfo=dt.UTC))
        assert_refused(request_code(), 429, "sms_daily_limited")
        assert stored() == before
        # at local midnight: a new day, a new code
        clock.move_to(dt.datetime(2026, 1, 10, 16, 0, tzinfo=dt.UTC))
        response = request_code()
        assert response.status_code == 202, response.content
        assert SmsCode.objects.count() == 11


def test_one_ip_gets_a_limited_number_of_codes_an_hour(clock, settings):
    settings.SMS_CODE_IP_HOURLY_LIMIT = 3
    phones = [f"1391234000{i}" for i in range(5)]
    for phone in phones[:3]:
        assert request_code(phone, ip="10.1.1.1").status_code == 202
    before = stored()
    # when the same IP asks for a fourth phone
    response = request_code(phones[3], ip="10.1.1.1")
    # then it is refused until the hour is over, and nothing is sent
    assert_refused(response, 429, "sms_ip_limited")
    assert response["Retry-After"] == "3600"  # START is on the hour
    assert stored() == before
    assert not SandboxSms.objects.filter(phone=phones[3]).exists()
    # another IP is not held up, and the next hour the first IP works again
    assert request_code(phones[3], ip="10.1.1.2").status_code == 202
    clock.shift(dt.timedelta(hours=1))
    assert request_code(phones[4], ip="10.1.1.1").status_code == 202


def test_a_code_works_for_five_minutes(clock):
    request_code()
    code = latest_code(PHONE)
    clock.shift(dt.timedelta(seconds=299))
    assert login(PHONE, code).status_code == 200


def test_an_expired_code_is_invalid(clock):
    request_code()
    code = latest_code(PHONE)
    # when the code is used after five minutes
    clock.shift(dt.timedelta(seconds=301))
    response = login(PHONE, code)
    # then it is refused and no account or token is made
    body = assert_refused(response, 400, "sms_code_invalid")
    assert "code" in body["fields"]
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()
    assert SmsCode.objects.get().consumed_at is None


def test_five_wrong_codes_lock_the_phone_even_for_the_right_code(clock, settings):
    request_code()
    code = latest_code(PHONE)
    for _ in range(4):
        assert_refused(login(PHONE, wrong(code)), 400, "sms_code_invalid")
    # the fifth wrong code locks
    response = login(PHONE, wrong(code))
    assert_refused(response, 429, "sms_locked")
    assert response["Retry-After"] == str(settings.SMS_CODE_LOCK_SECONDS)
    # when the right code comes now, it is refused as well
    clock.shift(dt.timedelta(seconds=10))
    response = assert_refused(login(PHONE, code), 429, "sms_locked")
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()
    # one second before the lock ends: still locked
    clock.shift(dt.timedelta(seconds=settings.SMS_CODE_LOCK_SECONDS - 11))
    assert_refused(login(PHONE, code), 429, "sms_locked")
    # after the lock, the old code is gone but a new one works
    clock.shift(dt.timedelta(seconds=2))
    assert_refused(login(PHONE, code), 400, "sms_code_invalid")
    assert request_code().status_code == 202
    assert login(PHONE, latest_code(PHONE)).status_code == 200
    assert User.objects.count() == 1


def test_wrong_codes_across_a_quarter_hour_boundary_still_lock(clock, settings):
    # given a code requested a minute before 10:15, and four wrong tries two seconds before it
    clock.move_to(START + dt.timedelta(minutes=14))
    request_code()
    code = latest_code(PHONE)
    clock.move_to(START + dt.timedelta(minutes=14, seconds=58))
    for _ in range(4):
        assert_refused(login(PHONE, wrong(code)), 400, "sms_code_invalid")
    # when the fifth wrong try comes four seconds later, in the next quarter hour
    clock.shift(dt.timedelta(seconds=4))
    response = login(PHONE, wrong(code))
    # then the phone is locked (a fixed 15-minute window would have allowed five more tries)
    assert_refused(response, 429, "sms_locked")
    assert response["Retry-After"] == str(settings.SMS_CODE_LOCK_SECONDS)
    assert_refused(login(PHONE, code), 429, "sms_locked")
    assert SmsCode.objects.get().consumed_at is not None
    assert not User.objects.exists()
    assert not ApiToken.objects.exists()


def test_wrong_tries_count_while_each_comes_within_the_lock_time_of_the_last(clock, settings):
    # given wrong tries ten minutes apart: 40 minutes from the first to the fifth
    request_code()
    code = latest_code(PHONE)
    for _ in range(4):
        assert_refused(login(PHONE, wrong(code)), 400, "sms_code_invalid")
        clock.shift(dt.timedelta(minutes=10))
    # then the fifth still locks: the count runs until a quiet spell of SMS_CODE_LOCK_SECONDS
    assert_refused(login(PHONE, wrong(code)), 429, "sms_locked")
    request_code()
    assert_refused(login(PHONE, latest_code(PHONE)), 429, "sms_locked")
    assert not User.objects.exists()


def test_after_a_quiet_spell_the_wrong_tries_count_from_zero_again(clock, settings):
    # given four wrong tries
    request_code()
    code = latest_code(PHONE)
    for _ in range(4):
        assert_refused(login(PHONE, wrong(code)), 400, "sms_code_invalid")
    # when nothing is tried for one second under the lock time: the count still holds
    clock.shift(dt.timedelta(seconds=settings.SMS_CODE_LOCK_SECONDS - 1))
    request_code()
    code = latest_code(PHONE)
    assert_refused(login(PHONE, wrong(code)), 429, "sms_locked")
    # and after the lock, and a full quiet spell since the last wrong try
    clock.shift(dt.timedelta(seconds=settings.SMS_CODE_LOCK_SECONDS + 1))
    request_code()
    code = latest_code(PHONE)
    # then four wrong tries are refused as wrong, not locked, and the right code logs in
    for _ in range(4):
        assert_refused(login(PHONE, wrong(code)), 400, "sms_code_invalid")
    assert login(PHONE, code).status_code == 200
    assert User.objects.count() == 1
    assert ApiToken.objects.count() == 1


def test_wrong_codes_for_one_phone_do_not_lock_another(clock):
    request_code()
    request_code(OTHER)
    for _ in range(5):
        login(PHONE, "000000")
    assert login(OTHER, latest_code(OTHER)).status_code == 200


def test_a_new_code_replaces_the_old_one(clock, monkeypatch):
    codes = iter([111111, 222222])
    monkeypatch.setattr("heatdesk.accounts.services.secrets.randbelow", lambda n: next(codes))
    request_code()
    clock.shift(dt.timedelta(seconds=61))
    request_code()
    assert latest_code(PHONE) == "222222"
    # the first code no longer works, the second does
    assert_refused(login(PHONE, "111111"), 400, "sms_code_invalid")
    assert not User.objects.exists()
    assert login(PHONE, "222222").status_code == 200
    assert SmsCode.objects.filter(consumed_at=None).count() == 0


def test_a_code_for_login_does_not_verify_a_wechat_phone_and_vice_versa(clock):
    request_code(purpose="bind_phone")
    assert SandboxSms.objects.get().template == "bind_phone_code"
    assert_refused(login(PHONE, latest_code(PHONE)), 400, "sms_code_invalid")
    assert not User.objects.exists()


def test_the_answer_is_the_same_for_registered_and_unknown_phones(clock):
    make_resident(PHONE)
    users = User.objects.count()
    registered = request_code(PHONE, ip="10.0.0.1")
    unknown = request_code(OTHER, ip="10.0.0.2")
    assert registered.status_code == unknown.status_code == 202
    assert registered.content == unknown.content

    def headers(response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k.lower() != "date"}

    assert headers(registered) == headers(unknown)
    # and asking made no account
    assert User.objects.count() == users


def test_the_code_is_in_the_inbox_and_nowhere_else_in_plaintext(clock, monkeypatch):
    # a fixed code, so that no random digits elsewhere can ever match it by chance
    monkeypatch.setattr("heatdesk.accounts.services.secrets.randbelow", lambda n: 739146)
    request_code()
    code = latest_code(PHONE)
    assert code == "739146"
    # the sandbox inbox has it; the code row keeps a hash only
    assert code in SandboxSms.objects.get().text
    row = SmsCode.objects.get()
    assert code not in row.code_hash
    assert len(row.code_hash) == 64
    # the queued message's parameters and phone are encrypted
    message = OutboundSms.objects.get()
    assert raw_value(OutboundSms, "params_json", message.pk).startswith("v1:")
    assert raw_value(OutboundSms, "phone", message.pk).startswith("v1:")
    assert code in message.params_json  # decrypted by the ORM
    # and no other column of any table holds the code or the phone in plaintext
    assert tables_containing(code, exclude={"sandbox_sandboxsms"}) == []
    assert tables_containing(PHONE, exclude={"sandbox_sandboxsms"}) == []


@pytest.mark.parametrize(
    "phone", ["12345", "23812345678", "1381234567a", "138123456789", "", "+1 2025550123"]
)
def test_an_invalid_phone_is_a_422_naming_the_phone(clock, phone):
    response = request_code(phone)
    body = assert_refused(response, 422, "validation_error")
    assert "phone" in body["fields"]
    assert stored() == (0, 0, 0, 0)


@pytest.mark.parametrize("phone", ["+86 138 1234 5678", "138-1234-5678", "+8613812345678"])
def test_a_phone_written_with_spaces_dashes_or_86_is_accepted(clock, phone):
    assert request_code(phone).status_code == 202
    assert SandboxSms.objects.get().phone == PHONE


def test_a_disabled_account_cannot_log_in(clock):
    user = make_resident(PHONE)
    User.objects.filter(pk=user.pk).update(is_active=False)
    request_code()
    assert_refused(login(PHONE, latest_code(PHONE)), 400, "account_disabled")
    assert not ApiToken.objects.exists()


def test_concurrent_wrong_codes_get_no_more_tries_than_the_limit(clock, monkeypatch, settings):
    """Deterministic race: every try reaches the comparison before any has failed, as when
    many arrive at once. Counting a try before comparing keeps the total at the limit."""
    from heatdesk.accounts import services
    from heatdesk.core.errors import ApplicationError

    request_code()
    code = latest_code(PHONE)
    real_code_hash = services._code_hash
    compared: list[str] = []
    outcomes: list[str] = []

    def next_try_arrives_first(*, phone_digest: str, code: str) -> str:
        compared.append(code)
        if len(outcomes) + len(compared) < 12:
            try:
                services.sms_code_verify(phone=PHONE, purpose="login", code=wrong(code))
            except ApplicationError as exc:
                outcomes.append(exc.code)
        return real_code_hash(phone_digest=phone_digest, code=code)

    monkeypatch.setattr(services, "_code_hash", next_try_arrives_first)
    with pytest.raises(ApplicationError):
        services.sms_code_verify(phone=PHONE, purpose="login", code=wrong(code))
    assert len(compared) == settings.SMS_CODE_MAX_ATTEMPTS
    assert "sms_locked" in outcomes
    # and the phone is locked afterwards, for the right code too
    monkeypatch.undo()
    assert_refused(login(PHONE, code), 429, "sms_locked")
    assert not User.objects.exists()
