"""Keys are parsed once per text (the settings are read on every notify), and a cached key never
stands in for another: changed settings give the new key, unreadable text is refused each time."""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings

from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.config import wechatpay_config
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import (
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_base64,
    public_key_pem,
    rsa_sha256_sign,
    rsa_sha256_verify,
)
from heatdesk.payments.tests.support import DATA

KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"


@pytest.fixture(scope="module")
def two_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def test_the_same_text_gives_the_same_key_object_which_still_signs_and_verifies():
    pem = (DATA / "kat_merchant_key.pem").read_text()

    key = load_private_key(pem)
    again = load_private_key(pem)
    public = load_public_key(public_key_pem(key.public_key()))

    assert again is key
    assert load_public_key(public_key_pem(key.public_key())) is public
    signature = rsa_sha256_sign(again, b"message")
    rsa_sha256_verify(public, b"message", signature)
    with pytest.raises(VerificationError):
        rsa_sha256_verify(public, b"another message", signature)


def test_another_text_gives_its_own_key(two_keys):
    first, second = two_keys

    loaded = [load_private_key(private_key_pem(k)) for k in (first, second)]
    bare = load_public_key(public_key_base64(second.public_key()))

    assert [k.public_key().public_numbers() for k in loaded] == [
        first.public_key().public_numbers(),
        second.public_key().public_numbers(),
    ]
    assert bare.public_numbers() == second.public_key().public_numbers()


@pytest.mark.parametrize("text", ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n"])
def test_an_unreadable_key_is_refused_every_time(text):
    for _ in range(2):
        with pytest.raises(ValueError, match="not a readable RSA key"):
            load_private_key(text)
        with pytest.raises(ValueError, match="not a readable RSA key"):
            load_public_key(text)


def _production_settings(merchant: rsa.RSAPrivateKey, platform: rsa.RSAPrivateKey) -> dict:
    return {
        "SANDBOX": False,
        "WECHATPAY_MCHID": "1900000001",
        "WECHATPAY_APPID": "wx2421b1c4370ec43b",
        "WECHATPAY_API_V3_KEY": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6",
        "WECHATPAY_PRIVATE_KEY": private_key_pem(merchant),
        "WECHATPAY_CERT_SERIAL": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "WECHATPAY_PLATFORM_PUBLIC_KEY": public_key_pem(platform.public_key()),
        "WECHATPAY_PLATFORM_PUBLIC_KEY_ID": KEY_ID,
        "WECHATPAY_PLATFORM_CERTIFICATES": "",
        "WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com",
        "WECHATPAY_NOTIFY_URL": "https://heat.example.cn/payments/notify/wechatpay",
    }


def test_changed_platform_key_settings_take_effect_at_once(two_keys):
    first, second = two_keys
    body = b'{"id":"EV-1"}'
    signed_by_second = proto.sign_response(body=body, private_key=second, serial=KEY_ID)

    with override_settings(**_production_settings(first, first)):
        before = wechatpay_config()
        again = wechatpay_config()
    with override_settings(**_production_settings(second, second)):
        after = wechatpay_config()

    assert again.platform.for_serial(KEY_ID) is before.platform.for_serial(KEY_ID)
    assert again.private_key is before.private_key
    assert after.private_key.public_key().public_numbers() == (second.public_key().public_numbers())
    with pytest.raises(VerificationError):
        proto.verify_signed_message(headers=signed_by_second, body=body, platform=before.platform)
    assert (
        proto.verify_signed_message(headers=signed_by_second, body=body, platform=after.platform)
        == KEY_ID
    )
