"""Queue and deliver through the real providers, talking to the local stubs."""

import json

import pytest

from heatdesk.notifications.models import OutboundSms
from heatdesk.notifications.services import MAX_ATTEMPTS, sms_deliver_one, sms_queue
from heatdesk.notifications.tests.stubs import Forced

PHONE = "13912345678"
CODE = "135790"

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue_only(settings):
    """Enqueued deliveries wait instead of running at once, so each test drives them itself."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _queue() -> OutboundSms:
    return sms_queue(phone=PHONE, template="login_code", params={"code": CODE})


def test_queued_sms_is_sent_through_aliyun_and_keeps_the_biz_id(queue_only, aliyun_stub):
    # given
    queued = _queue()
    assert queued.status == OutboundSms.Status.QUEUED
    assert aliyun_stub.requests == []
    # when
    delivered = sms_deliver_one(message_id=queued.pk)
    # then
    row = OutboundSms.objects.get(pk=queued.pk)
    assert delivered.status == row.status == OutboundSms.Status.SENT
    assert row.provider == "aliyun"
    assert row.provider_message_id == "900619746936498001^0"
    assert row.sent_at is not None
    assert row.attempts == 1
    assert row.error == ""
    seen = aliyun_stub.requests[0]
    assert seen.signature_valid is True
    assert seen.params["PhoneNumbers"] == PHONE
    assert json.loads(seen.params["TemplateParam"]) == {"code": CODE}


def test_delivering_twice_sends_once(queue_only, aliyun_stub):
    queued = _queue()
    sms_deliver_one(message_id=queued.pk)
    again = sms_deliver_one(message_id=queued.pk)
    assert again.status == OutboundSms.Status.SENT
    assert again.attempts == 1
    assert len(aliyun_stub.requests) == 1


def test_queueing_delivers_at_once_with_the_immediate_task_backend(aliyun_stub):
    # The test settings run tasks at once: queueing alone ends with a sent message.
    queued = _queue()
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.SENT
    assert row.provider_message_id == "900619746936498001^0"
    assert len(aliyun_stub.requests) == 1


def test_refused_signature_fails_the_message_at_once(queue_only, aliyun_stub, settings):
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "not-the-secret"
    queued = _queue()
    # when
    sms_deliver_one(message_id=queued.pk)
    # then
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.FAILED
    assert row.provider == "aliyun"
    assert row.provider_message_id == ""
    assert row.sent_at is None
    assert row.attempts == 1
    assert "SignatureDoesNotMatch" in row.error
    assert PHONE not in row.error
    assert CODE not in row.error
    # a failed message is not tried again
    sms_deliver_one(message_id=queued.pk)
    assert len(aliyun_stub.requests) == 1


def test_throttled_message_stays_queued_and_is_sent_on_a_later_try(queue_only, aliyun_stub):
    aliyun_stub.forced = Forced(
        code="isv.BUSINESS_LIMIT_CONTROL", message="触发分钟级流控Permits:1"
    )
    queued = _queue()
    # when: the first try is throttled
    sms_deliver_one(message_id=queued.pk)
    # then
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.QUEUED
    assert row.attempts == 1
    assert "isv.BUSINESS_LIMIT_CONTROL" in row.error
    assert row.provider_message_id == ""
    # when: the limit has passed
    aliyun_stub.forced = None
    sms_deliver_one(message_id=queued.pk)
    # then
    row.refresh_from_db()
    assert row.status == OutboundSms.Status.SENT
    assert row.attempts == 2
    assert row.error == ""
    assert row.provider_message_id == "900619746936498001^0"
    assert len(aliyun_stub.requests) == 2


def test_retryable_failures_stop_after_the_last_attempt(queue_only, aliyun_stub):
    aliyun_stub.forced = Forced(code="Throttling.User", status=400)
    queued = _queue()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        sms_deliver_one(message_id=queued.pk)
        row = OutboundSms.objects.get(pk=queued.pk)
        assert row.attempts == attempt
        expected = (
            OutboundSms.Status.FAILED if attempt == MAX_ATTEMPTS else OutboundSms.Status.QUEUED
        )
        assert row.status == expected
    sms_deliver_one(message_id=queued.pk)
    assert len(aliyun_stub.requests) == MAX_ATTEMPTS


def test_unreachable_provider_leaves_the_message_queued(
    queue_only, aliyun_stub, settings, closed_port_url
):
    settings.ALIYUN_SMS_ENDPOINT = closed_port_url
    queued = _queue()
    # when
    delivered = sms_deliver_one(message_id=queued.pk)
    # then
    row = OutboundSms.objects.get(pk=queued.pk)
    assert delivered.status == row.status == OutboundSms.Status.QUEUED
    assert row.attempts == 1
    assert "network error" in row.error
    assert row.sent_at is None


def test_provider_error_page_leaves_the_message_queued(queue_only, aliyun_stub):
    aliyun_stub.raw_answer = (500, b"<html>oops</html>")
    queued = _queue()
    sms_deliver_one(message_id=queued.pk)
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.QUEUED
    assert "HTTP 500" in row.error


def test_queued_sms_is_sent_through_tencent_and_keeps_the_serial_number(queue_only, tencent_stub):
    queued = _queue()
    sms_deliver_one(message_id=queued.pk)
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.SENT
    assert row.provider == "tencent"
    assert row.provider_message_id == "2645:104571066915705365784950"
    seen = tencent_stub.requests[0]
    assert seen.signature_valid is True
    assert seen.params["PhoneNumberSet"] == ["+86" + PHONE]
    assert seen.params["TemplateParamSet"] == [CODE]


def test_tencent_daily_limit_fails_the_message(queue_only, tencent_stub):
    tencent_stub.forced_status = Forced(code="LimitExceeded.PhoneNumberDailyLimit")
    queued = _queue()
    sms_deliver_one(message_id=queued.pk)
    row = OutboundSms.objects.get(pk=queued.pk)
    assert row.status == OutboundSms.Status.FAILED
    assert row.provider == "tencent"
    assert "LimitExceeded.PhoneNumberDailyLimit" in row.error
