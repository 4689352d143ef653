"""Each booking notice has its provider template code in a setting (SMS_BOOKING_*_TEMPLATE)."""

import pytest

from heatdesk.bookings import notices
from heatdesk.notifications.sms.templates import TEMPLATES

NOTICES = {
    notices.SMS_CONFIRMED: "SMS_BOOKING_CONFIRMED_TEMPLATE",
    notices.SMS_RECEIVED: "SMS_BOOKING_RECEIVED_TEMPLATE",
    notices.SMS_CHANGED: "SMS_BOOKING_CHANGED_TEMPLATE",
    notices.SMS_CANCELLED: "SMS_BOOKING_CANCELLED_TEMPLATE",
    notices.SMS_REMINDER: "SMS_BOOKING_REMINDER_TEMPLATE",
}


@pytest.mark.parametrize(("template", "setting"), sorted(NOTICES.items()))
def test_every_booking_notice_reads_its_provider_code_from_its_setting(settings, template, setting):
    from django.conf import settings as live

    # the setting exists (empty by default: the template's own name is sent)
    assert getattr(live, setting) == ""
    assert TEMPLATES[template].provider_code() == template
    # when a deployment sets it
    setattr(settings, setting, "SMS_4800" + str(len(template)))
    # then that code is sent to the provider
    assert TEMPLATES[template].provider_code() == "SMS_4800" + str(len(template))
    assert TEMPLATES[template].provider_code_setting == setting
