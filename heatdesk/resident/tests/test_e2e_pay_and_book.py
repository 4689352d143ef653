"""Resident journeys in Chromium at 360×640: pay a bill by WeChat Pay and by Alipay at the
simulators' cashier and see the order paid and listed; book a home visit, reschedule it, and
cancel it from the SMS link's page. Checked on the page and in the database; run with
`make e2e`; screenshots land in var/screenshots/."""

import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import time_machine
from playwright.sync_api import Page, expect

from heatdesk.accounts.models import User
from heatdesk.accounts.services import phone_hash
from heatdesk.billing.models import Bill, LedgerEntry
from heatdesk.billing.services import bill_issue
from heatdesk.billing.tests.factories import make_season, make_tariff
from heatdesk.bookings.models import Booking, BookingEvent
from heatdesk.bookings.tests.factories import community_of, make_team, make_visit_service, set_plan
from heatdesk.core.clock import SHANGHAI
from heatdesk.estates.services import house_bind
from heatdesk.notifications.models import OutboundSms
from heatdesk.payments.models import PaymentOrder
from heatdesk.resident.tests.test_e2e_journeys import _log_in
from heatdesk.testing import make_house, make_staff

pytestmark = pytest.mark.e2e

# Mid-November: the bill owes exactly its total (no late fee, no discount). The clock ticks.
NOON = dt.datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI)
BILL_FEN = 223750


@pytest.fixture
def billed_house(sim, transactional_db):
    """An issued bill for a house nobody has bound yet, on a ticking mid-November clock."""
    with time_machine.travel(NOON, tick=True):
        season = make_season()
        make_tariff(season, area_price=Decimal("25.00"))
        house = make_house(account_no="HT20249001", owner_name="王秀英")
        finance = make_staff("finance-e2e", "finance")
        bill = bill_issue(house=house, season=season, issued_by=finance)
        yield house, bill


def _bind_in_the_browser(page: Page, account_no: str, owner: str) -> None:
    page.get_by_role("link", name="绑定房屋").first.click()
    page.get_by_label("户号").fill(account_no)
    page.get_by_role("textbox", name="户主姓名").fill(owner)
    page.get_by_text("户主本人").click()
    page.get_by_test_id("bind-submit").click()
    expect(page.get_by_test_id("house-account")).to_have_text(account_no)


def _pay(page: Page, shot, *, channel_label: str) -> PaymentOrder:
    """From the house's page: open the bill, pay it at the simulator's cashier, see it paid."""
    page.get_by_test_id("bills-link").click()
    expect(page.get_by_test_id("owed-amount")).to_have_text("¥2,237.50")
    shot(page, "bills")
    page.get_by_test_id("bills").get_by_role("link").first.click()
    expect(page.get_by_test_id("bill-lines")).to_contain_text("建筑面积 89.50㎡ × 25.00元/㎡")
    expect(page.get_by_test_id("bill-outstanding")).to_have_text("¥2,237.50")
    shot(page, "bill")
    page.get_by_test_id("pay-button").click()
    page.get_by_text(channel_label, exact=True).click()
    shot(page, "pay")
    page.get_by_test_id("pay-submit").click()
    expect(page).to_have_url(re.compile(r"/m/pay/orders/po_\w+/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("支付中")
    shot(page, "order-open")
    order = PaymentOrder.objects.get()
    assert (order.amount_fen, order.status) == (BILL_FEN, "pending")

    # the cashier stands in for the payer's phone: it opens beside the result page
    with page.expect_popup() as popup_info:
        page.get_by_test_id("go-pay").click()
    cashier = popup_info.value
    expect(cashier.get_by_test_id("amount")).to_contain_text("2,237.50")
    cashier.set_viewport_size({"width": 360, "height": 640})
    shot(cashier, "cashier")
    cashier.get_by_test_id("pay-succeed").click()
    expect(cashier.get_by_test_id("state")).to_contain_text("已支付")
    cashier.close()

    # then: the result page follows the order to paid without a reload
    expect(page.get_by_test_id("order-status")).to_have_text("已支付", timeout=20_000)
    expect(page.get_by_text("缴费成功，感谢您按时缴纳采暖费。")).to_be_visible()
    expect(page.get_by_test_id("go-pay")).to_be_hidden()
    shot(page, "order-paid")
    page.get_by_test_id("records-link").click()
    expect(page.get_by_test_id("records")).to_contain_text("已支付")
    expect(page.get_by_test_id("records")).to_contain_text("¥2,237.50")
    shot(page, "records")
    order.refresh_from_db()
    return order


def _assert_paid(order: PaymentOrder, bill: Bill, phone: str, channel: str) -> None:
    user = User.objects.get(phone_hash=phone_hash(phone))
    assert (order.status, order.paid_fen, order.channel, order.payer_id) == (
        "paid",
        BILL_FEN,
        channel,
        user.pk,
    )
    bill.refresh_from_db()
    assert (bill.status, bill.paid_fen) == ("paid", BILL_FEN)
    payments = LedgerEntry.objects.filter(house=bill.house, kind=LedgerEntry.Kind.PAYMENT)
    assert [entry.amount_fen for entry in payments] == [-BILL_FEN]
    assert PaymentOrder.objects.count() == 1


def test_pay_a_bill_with_wechat_pay(phone_page: Page, screenshot, billed_house):
    house, bill = billed_house
    phone = "13800138101"
    with time_machine.travel(NOON, tick=True):
        _log_in(phone_page, phone, screenshot)
        _bind_in_the_browser(phone_page, house.account_no, "王秀英")
        order = _pay(phone_page, screenshot, channel_label="微信支付")
    _assert_paid(order, bill, phone, "wechat_native")


def test_pay_a_bill_with_alipay(phone_page: Page, screenshot, billed_house):
    house, bill = billed_house
    phone = "13800138102"
    with time_machine.travel(NOON, tick=True):
        _log_in(phone_page, phone)
        _bind_in_the_browser(phone_page, house.account_no, "王秀英")
        order = _pay(phone_page, screenshot, channel_label="支付宝")
    _assert_paid(order, bill, phone, "alipay_wap")


def test_book_a_home_visit_reschedule_it_and_cancel_it_from_the_sms_link(
    phone_page: Page, screenshot, browser
):
    page = phone_page
    house = make_house(account_no="HT20249002", owner_name="赵敏")
    team = make_team(community_of(house), code="team-e2e", name="东区维修一班")
    set_plan(team, weekdays=(0, 1, 2, 3, 4, 5, 6))
    make_visit_service(
        team,
        code="repair",
        name="上门维修",
        max_active_per_house=1,
        cancel_deadline_minutes=60,
        reschedule_deadline_minutes=60,
    )
    phone = "13800138103"
    _log_in(page, phone)
    user = User.objects.get(phone_hash=phone_hash(phone))
    house_bind(user=user, account_no=house.account_no, relation="owner", owner_name="赵敏")

    # when: book from the home page's shortcut
    page.reload()
    expect(page.get_by_test_id("no-upcoming")).to_be_visible()
    page.get_by_role("link", name="预约服务").click()
    page.get_by_role("link", name=re.compile("上门维修")).click()
    days = page.get_by_test_id("days").get_by_role("link")
    expect(days.first).to_have_attribute("aria-current", "date")
    screenshot(page, "slots")
    first_slot = page.get_by_test_id("slot").first
    first_label = first_slot.inner_text()
    first_slot.click()
    expect(page.get_by_test_id("confirm-time")).to_contain_text(first_label.split("–")[0])
    page.get_by_label("备注").fill("暖气片不热")
    screenshot(page, "confirm")
    # an impatient double tap sends the form once; the key would make a resend harmless too
    page.evaluate(
        "() => { const b = document.querySelector('[data-testid=booking-submit]');"
        " b.click(); b.click(); }"
    )

    # then: one confirmed booking, shown with its history and on the home page
    expect(page.get_by_test_id("booking-status")).to_have_text("已确认")
    screenshot(page, "booked")
    booking = Booking.objects.get()
    assert (booking.resident_id, booking.house_id, booking.status) == (
        user.pk,
        house.pk,
        "confirmed",
    )
    assert booking.note == "暖气片不热"
    expect(page.get_by_test_id("booking-code")).to_have_text(booking.code)
    first_start = booking.starts_at

    # when: reschedule to a slot on another day
    page.get_by_test_id("reschedule-link").click()
    page.get_by_test_id("days").get_by_role("link").nth(1).click()
    screenshot(page, "reschedule")
    page.get_by_test_id("slot").first.click()

    # then: the same booking at the new time, with the move in its history
    expect(page.get_by_test_id("booking-history")).to_contain_text("改约")
    screenshot(page, "rescheduled")
    booking.refresh_from_db()
    assert booking.starts_at.date() != first_start.date()
    assert (booking.status, Booking.objects.count()) == ("confirmed", 1)
    page.goto("/m/")
    expect(page.get_by_test_id("upcoming-booking")).to_contain_text("上门维修")
    screenshot(page, "home-upcoming")

    # when: the SMS's self-service link is opened on a phone with nobody signed in
    params = json.loads(
        OutboundSms.objects.filter(template="booking_confirmed").first().params_json
    )
    link = urlsplit(params["link"]).path
    assert link.startswith("/m/b/")
    stranger = browser.new_context(
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        base_url=page.url.split("/m/")[0],
    )
    sms_page = stranger.new_page()
    sms_page.goto(link)
    expect(sms_page.get_by_test_id("booking-code")).to_have_text(booking.code)
    screenshot(sms_page, "sms-link")
    sms_page.get_by_label("取消原因").fill("已自行修好")
    sms_page.get_by_test_id("cancel-submit").click()

    # then: cancelled, through the link, and its place given back
    expect(sms_page.get_by_test_id("booking-status")).to_have_text("已取消")
    expect(sms_page.get_by_test_id("cancel-form")).to_have_count(0)
    screenshot(sms_page, "sms-cancelled")
    stranger.close()
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    event = BookingEvent.objects.get(booking=booking, to_status="cancelled")
    assert (event.actor_id, event.reason) == (user.pk, "已自行修好")
    page.goto(f"/m/bookings/{booking.public_id}/")
    expect(page.get_by_test_id("booking-status")).to_have_text("已取消")


def test_apply_to_stop_heating_with_a_field_error_first(phone_page: Page, screenshot):
    from heatdesk.billing.models import HeatingChange

    page = phone_page
    with time_machine.travel(dt.datetime(2026, 10, 1, 9, tzinfo=SHANGHAI), tick=True):
        make_season()
        house = make_house(account_no="HT20249003", owner_name="李强")
        phone = "13800138104"
        _log_in(page, phone)
        user = User.objects.get(phone_hash=phone_hash(phone))
        house_bind(user=user, account_no=house.account_no, relation="owner", owner_name="李强")
        page.goto(f"/m/houses/{house.public_id}/")
        page.get_by_test_id("heating-link").click()
        expect(page.get_by_test_id("heating-status")).to_have_text("正常供热")

        # when: a date outside the season
        page.get_by_label("生效日期").fill("2027-06-01")
        page.get_by_test_id("heating-submit").click()

        # then: the error sits on the field, which is focused, and nothing is applied
        date_input = page.get_by_label("生效日期")
        expect(page.locator("#id_requested_from-error")).to_contain_text("生效日须在采暖季")
        expect(date_input).to_be_focused()
        screenshot(page, "date-error")
        assert not HeatingChange.objects.exists()

        # when: the first heating day, with a note
        date_input.fill("2026-11-15")
        page.get_by_label("说明").fill("全家外出过冬")
        page.get_by_test_id("heating-submit").click()

        # then: the application is listed as pending review
        expect(page.get_by_test_id("heating-changes")).to_contain_text("待审核")
        screenshot(page, "applied")
    change = HeatingChange.objects.get()
    assert (change.house_id, change.kind, change.status, change.note) == (
        house.pk,
        "stop",
        "pending",
        "全家外出过冬",
    )
