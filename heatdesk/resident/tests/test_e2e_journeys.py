"""Resident journeys in a real browser (Chromium at 360×640), checked on the page and in the
database. Run with `make e2e`; screenshots land in var/screenshots/."""

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from heatdesk.accounts.models import PrivacyConsent, SmsCode, User
from heatdesk.accounts.services import phone_hash
from heatdesk.estates.models import HouseBinding
from heatdesk.estates.services import house_bind
from heatdesk.testing import make_house

pytestmark = pytest.mark.e2e


def _code_from_inbox(page: Page, phone: str) -> str:
    """Read the latest login code from the sandbox SMS inbox page, as a tester would."""
    inbox = page.context.new_page()
    inbox.goto(f"/sandbox/sms/?phone={phone}")
    text = inbox.get_by_test_id("sms-text").first.inner_text()
    inbox.close()
    found = re.search(r"(\d{6})", text)
    assert found, text
    return found.group(1)


def _log_in(page: Page, phone: str, shot=None) -> None:
    page.goto("/m/")
    expect(page).to_have_url(re.compile(r"/m/login/\?next=/m/$"))
    page.get_by_label("手机号").fill(phone)
    if shot:
        shot(page, "login")
    page.get_by_test_id("send-code").click()
    expect(page.get_by_test_id("send-code")).to_be_disabled()  # the resend countdown runs
    if shot:
        shot(page, "code-sent")
    page.get_by_label("验证码").fill(_code_from_inbox(page, phone))
    page.get_by_label("我已阅读并同意").check()
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/m/$"))


def test_resident_logs_in_binds_a_house_sees_it_and_unbinds(phone_page: Page, screenshot):
    page = phone_page
    house = make_house(account_no="HT20240001", owner_name="王秀英", owner_phone="13911112222")
    phone = "13800138000"

    # when: log in by SMS code with consent
    _log_in(page, phone, screenshot)

    # then: a new resident who accepted the policy in force, with no house yet
    expect(page.get_by_test_id("no-houses")).to_be_visible()
    expect(page.get_by_text("138****8000")).to_be_visible()
    screenshot(page, "home-empty")
    user = User.objects.get(phone_hash=phone_hash(phone))
    assert user.privacy_version == settings.PRIVACY_POLICY_VERSION
    assert PrivacyConsent.objects.filter(user=user).count() == 1

    # when: bind the house by 户号 and the owner's name
    page.get_by_role("link", name="绑定房屋").click()
    page.get_by_label("户号").fill("HT20240001")
    page.get_by_role("textbox", name="户主姓名").fill("王秀英")
    page.get_by_text("户主本人").click()
    screenshot(page, "bind-filled")
    # an impatient double tap: the second lands while the first answer is still on its way
    held: list = []

    def hold(route):
        held.append(route)

    page.route("**/m/houses/bind/", hold)
    page.evaluate(
        "() => { const b = document.querySelector('[data-testid=bind-submit]');"
        " b.click(); setTimeout(() => b.click(), 150); }"
    )
    page.wait_for_timeout(600)
    assert len(held) == 1, "the second tap sent the form again"
    held[0].continue_()
    page.unroute("**/m/houses/bind/", hold)

    # then: its page shows it, and the database holds one active binding
    expect(page).to_have_url(re.compile(rf"/m/houses/{house.public_id}/$"))
    expect(page.get_by_test_id("house-account")).to_have_text("HT20240001")
    expect(page.get_by_test_id("house-address")).to_have_text(house.address)
    screenshot(page, "house")
    binding = HouseBinding.objects.get(user=user, ended_at=None)
    assert (binding.house_id, binding.relation) == (house.pk, "owner")

    # and: home lists it with its address and status (load time is measured by bench/, not here)
    page.get_by_role("link", name="返回").click()
    houses = page.get_by_test_id("houses")
    expect(houses).to_contain_text(house.address)
    expect(houses).to_contain_text("正常供热")
    screenshot(page, "home-with-house")

    # when: unbind it
    houses.get_by_role("link").first.click()
    page.get_by_test_id("unbind-link").click()
    screenshot(page, "unbind-confirm")
    page.get_by_test_id("unbind-confirm").click()

    # then: home is empty again and the binding is ended, not deleted
    expect(page).to_have_url(re.compile(r"/m/$"))
    expect(page.get_by_test_id("no-houses")).to_be_visible()
    # the toast (the screen-reader live region repeats it a moment later)
    expect(page.locator("[data-toast]")).to_have_text("已解绑")
    screenshot(page, "home-after-unbind")
    binding.refresh_from_db()
    assert binding.ended_at is not None
    assert HouseBinding.objects.filter(user=user).count() == 1

    # and: its page is gone for this resident (the same answer as for anybody else's house)
    gone = page.goto(f"/m/houses/{house.public_id}/")
    assert gone is not None
    assert gone.status == 404
    expect(page.get_by_text("未找到该页面或房屋")).to_be_visible()
    screenshot(page, "house-not-found")
    page.get_by_role("link", name="返回首页").click()

    # when: log out, then: home asks to log in again
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/m/login/$"))
    page.goto(f"/m/houses/{house.public_id}/")
    expect(page).to_have_url(re.compile(r"/m/login/\?next="))


def test_english_switch_shows_the_pages_in_english(phone_page: Page, screenshot):
    page = phone_page
    house = make_house(account_no="HT20240002", owner_name="李强", owner_phone="13733334444")
    phone = "13800138001"
    _log_in(page, phone)
    user = User.objects.get(phone_hash=phone_hash(phone))
    house_bind(user=user, account_no="HT20240002", relation="tenant", owner_name="李强")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")

    # when
    page.get_by_test_id("lang-switch").click()

    # then: the same page, in English, and the choice is remembered in a cookie
    expect(page).to_have_url(re.compile(r"/m/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="My homes")).to_be_visible()
    expect(page.get_by_test_id("houses")).to_contain_text("Heating on")
    expect(page.get_by_test_id("lang-switch")).to_have_text("中文")
    screenshot(page, "home")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies[settings.LANGUAGE_COOKIE_NAME] == "en"

    page.get_by_test_id("houses").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Home details")).to_be_visible()
    expect(page.get_by_text("Tenant")).to_be_visible()
    screenshot(page, "house")
    page.goto("/m/houses/bind/")
    expect(page.get_by_label("Account number")).to_be_visible()
    page.get_by_test_id("bind-submit").click()
    expect(page.get_by_text("Please enter the account number.")).to_be_visible()
    screenshot(page, "bind-errors")
    page.goto("/m/")
    page.get_by_test_id("logout").click()
    expect(page.get_by_role("button", name="Get code")).to_be_visible()
    screenshot(page, "login")

    # and back to Chinese
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_role("button", name="获取验证码")).to_be_visible()
    assert HouseBinding.objects.filter(user=user, house=house, ended_at=None).count() == 1


def test_wrong_code_and_wrong_owner_check_show_their_errors(phone_page: Page, screenshot):
    page = phone_page
    make_house(account_no="HT20240003", owner_name="赵敏", owner_phone="13655556666")
    phone = "13800138002"

    # when: a wrong code
    page.goto("/m/login/")
    page.get_by_label("手机号").fill(phone)
    page.get_by_test_id("send-code").click()
    real_code = _code_from_inbox(page, phone)
    wrong_code = f"{(int(real_code) + 1) % 10**6:06d}"
    page.get_by_label("验证码").fill(wrong_code)
    page.get_by_label("我已阅读并同意").check()
    page.get_by_test_id("login-submit").click()

    # then: the error sits under the code field, the field is marked invalid and focused
    code_input = page.get_by_label("验证码")
    expect(page.locator("#id_code-error")).to_have_text("验证码错误或已过期。")
    expect(code_input).to_have_attribute("aria-invalid", "true")
    expect(code_input).to_be_focused()
    expect(page.get_by_role("alert")).to_contain_text("请检查填写的内容。")
    screenshot(page, "wrong-code")
    assert not User.objects.filter(phone_hash=phone_hash(phone)).exists()
    login_code = SmsCode.objects.get(phone_hash=phone_hash(phone))
    assert (login_code.attempts, login_code.consumed_at) == (1, None)

    # when: the right code, then a wrong owner name
    code_input.fill(real_code)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/m/$"))
    page.goto("/m/houses/bind/")
    page.get_by_label("户号").fill("HT20240003")
    page.get_by_role("textbox", name="户主姓名").fill("赵明")
    page.get_by_text("家庭成员").click()
    page.get_by_test_id("bind-submit").click()

    # then: the mismatch shows on the owner field and nothing is bound
    expect(page.locator("#id_owner_name-error")).to_have_text(
        "户号与户主信息不匹配，请核对后重试。"
    )
    expect(page.get_by_label("户号")).to_have_value("HT20240003")
    screenshot(page, "wrong-owner-name")

    # when: the wrong last four digits of the owner's phone
    page.get_by_text("核对手机尾号").click()
    page.get_by_label("手机后四位").fill("1234")
    page.get_by_test_id("bind-submit").click()

    # then: the mismatch shows on that field instead
    expect(page.locator("#id_phone_last4-error")).to_have_text(
        "户号与户主信息不匹配，请核对后重试。"
    )
    expect(page.get_by_label("手机后四位")).to_be_visible()
    screenshot(page, "wrong-phone-last4")
    user = User.objects.get(phone_hash=phone_hash(phone))
    assert not HouseBinding.objects.filter(user=user).exists()
