"""Stub provider servers on 127.0.0.1, with SMS_PROVIDER and its settings pointing at them."""

import socket

import pytest

from heatdesk.notifications.tests.stubs import AliyunStub, TencentStub


@pytest.fixture
def aliyun_stub(settings):
    stub = AliyunStub().start()
    settings.SMS_PROVIDER = "aliyun"
    settings.SMS_SIGN_NAME = "供热服务"
    settings.SMS_LOGIN_TEMPLATE = "SMS_480001"
    settings.ALIYUN_SMS_ACCESS_KEY_ID = "LTAI-stub"
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "stub-secret"
    settings.ALIYUN_SMS_ENDPOINT = stub.url
    yield stub
    stub.stop()


@pytest.fixture
def tencent_stub(settings):
    stub = TencentStub().start()
    settings.SMS_PROVIDER = "tencent"
    settings.SMS_SIGN_NAME = "供热服务"
    settings.SMS_LOGIN_TEMPLATE = "1860001"
    settings.TENCENT_SMS_SECRET_ID = "AKID-stub"
    settings.TENCENT_SMS_SECRET_KEY = "stub-tencent-key"
    settings.TENCENT_SMS_SDK_APP_ID = "1400800001"
    settings.TENCENT_SMS_REGION = "ap-guangzhou"
    settings.TENCENT_SMS_ENDPOINT = stub.url
    yield stub
    stub.stop()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
