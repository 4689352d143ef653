"""Issue #6's promise, in Chromium at 360×640 on the demo city: a new user opens the site's
address, logs in as a demo resident with the code from the sandbox SMS inbox (which the login
page links to), sees their homes
and what they owe, pays a bill by WeChat Pay at the sandbox cashier and finds it in the payment
records, then books a home repair on a free slot and finds it in their bookings. After the first
address every step follows a link or button by the Chinese text the page shows, as a new user
would. Run with `make e2e`; screenshots land in var/screenshots/."""

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.billing.demo import season_rules, winter_start_year
from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.bookings.models import Booking
from heatdesk.core import clock
from heatdesk.core.money import format_fen
from heatdesk.payments.models import PaymentOrder
from heatdesk.resident.tests.sms import latest_code

pytestmark = pytest.mark.e2e

PHONE = "13800000001"  # the first demo resident, printed by `heatdesk demo`
ACCOUNT = "HT010320502"  # their own home; the other one is their family's


@pytest.fixture
def demo_city(sim, transactional_db) -> str:
    """The demo loaded into the test database (the module's one journey loads it once)."""
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_a_new_user_pays_a_bill_and_books_a_visit_in_the_demo_city(
    phone_page: Page, screenshot, demo_city: str
):
    page = phone_page
    assert PHONE in demo_city  # the printout names the login a new user types
    season = season_rules(winter_start_year(clock.local_today()))["code"]
    bill = Bill.objects.get(house__account_no=ACCOUNT, season__code=season)
    outstanding = format_fen(bill.outstanding_fen)
    user = User.objects.get(phone_hash=phone_hash(PHONE))

    # when: the printed address, then the login form with the code the SMS inbox shows
    page.goto("/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("手机号").fill(PHONE)
    screenshot(page, "login")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("button", name=re.compile("重新获取"))).to_be_disabled()
    # the page says where the demo's texts go; the inbox opens beside the login form
    with page.expect_popup() as popup_info:
        page.get_by_role("link", name="在短信收件箱查看验证码").click()
    inbox = popup_info.value
    inbox.set_viewport_size({"width": 360, "height": 640})
    text = inbox.get_by_test_id("sms-text").first
    expect(text).to_contain_text("验证码")
    screenshot(inbox, "sms-inbox")
    found = re.search(r"\d{6}", text.inner_text())
    assert found is not None
    assert found.group() == latest_code(PHONE)
    inbox.close()
    page.get_by_label("验证码").fill(found.group())
    page.get_by_label("我已阅读并同意").check()
    screenshot(page, "code")
    page.get_by_role("button", name="登录", exact=True).click()

    # then: both homes, each with what it owes
    houses = page.get_by_test_id("houses")
    expect(houses.get_by_role("link")).to_have_count(2)
    expect(houses).to_contain_text(ACCOUNT)
    expect(houses).to_contain_text("HT020611101")
    for owed in houses.get_by_test_id("house-owed").all():
        expect(owed).to_have_text(re.compile(r"^¥[1-9][\d,]*\.\d\d$"))
    screenshot(page, "home")

    # when: open the home, its bills, this winter's bill
    houses.get_by_role("link", name=re.compile(ACCOUNT)).click()
    page.get_by_role("link", name="账单与缴费").click()
    expect(page.get_by_test_id("owed-amount")).to_have_text(re.compile(r"^¥[1-9]"))
    screenshot(page, "bills")
    page.get_by_test_id("bills").get_by_role("link", name=re.compile(season)).click()
    expect(page.get_by_test_id("bill-outstanding")).to_have_text(outstanding)
    screenshot(page, "bill")
    pay_label = page.get_by_role("link", name=re.compile(r"^缴费 ¥")).inner_text()
    amount = pay_label.removeprefix("缴费").strip()

    # when: pay it with WeChat Pay at the sandbox cashier, which stands in for the payer's phone
    page.get_by_role("link", name=re.compile(r"^缴费")).click()
    page.get_by_text("微信支付", exact=True).click()
    screenshot(page, "pay")
    page.get_by_role("button", name=re.compile("确认支付")).click()
    expect(page.get_by_test_id("order-status")).to_have_text("支付中")
    screenshot(page, "order-open")
    with page.expect_popup() as popup_info:
        page.get_by_role("link", name="前往微信支付付款").click()
    cashier = popup_info.value
    cashier.set_viewport_size({"width": 360, "height": 640})
    screenshot(cashier, "cashier")
    cashier.get_by_role("button", name="支付成功").click()
    expect(cashier.get_by_test_id("state")).to_contain_text("已支付")
    cashier.close()

    # then: the result page turns paid by itself, and the payment is in the records
    expect(page.get_by_test_id("order-status")).to_have_text("已支付", timeout=20_000)
    expect(page.get_by_text("缴费成功，感谢您按时缴纳采暖费。")).to_be_visible()
    screenshot(page, "paid")
    page.get_by_role("link", name="缴费记录").click()
    records = page.get_by_test_id("records")
    expect(records.get_by_role("link")).to_have_count(1)
    expect(records).to_contain_text("已支付")
    expect(records).to_contain_text(amount)
    screenshot(page, "records")

    order = PaymentOrder.objects.get(payer=user)
    bill.refresh_from_db()
    assert (order.status, order.channel, format_fen(order.paid_fen)) == (
        PaymentOrder.Status.PAID,
        "wechat_native",
        amount,
    )
    assert (bill.status, bill.paid_fen) == (Bill.Status.PAID, bill.total_fen)
    assert LedgerEntry.objects.filter(
        house=bill.house, kind=LedgerEntry.Kind.PAYMENT, amount_fen=-order.paid_fen
    ).exists()

    # when: back home, book a home repair for this home on the first free slot
    page.get_by_role("link", name="返回").click()
    page.get_by_role("link", name="预约服务").click()
    page.get_by_role("link", name=re.compile("上门维修")).click()
    page.get_by_role("link", name=re.compile(ACCOUNT)).click()
    screenshot(page, "slots")
    days = page.get_by_test_id("days").get_by_role("link")
    for day in range(days.count()):
        if page.get_by_test_id("slot").count():
            break
        days.nth(day + 1).click()
    slot = page.get_by_test_id("slot").first
    start = slot.inner_text().split("–")[0]
    slot.click()
    expect(page.get_by_test_id("confirm-time")).to_contain_text(start)
    page.get_by_label("备注").fill("卧室暖气片不热")
    screenshot(page, "confirm")
    page.get_by_role("button", name="确认预约").click()

    # then: confirmed, and listed under my bookings
    expect(page.get_by_test_id("booking-status")).to_have_text("已确认")
    screenshot(page, "booked")
    page.get_by_role("link", name="返回").click()
    expect(page.get_by_role("heading", name="我的预约")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("上门维修")
    screenshot(page, "bookings")

    booking = Booking.objects.get(resident=user)
    assert (booking.house.account_no, booking.service.code, booking.status) == (
        ACCOUNT,
        "home-repair",
        Booking.Status.CONFIRMED,
    )
    assert booking.note == "卧室暖气片不热"
    assert booking.starts_at > clock.now()
    assert f"{clock.to_local(booking.starts_at):%H:%M}" == start
