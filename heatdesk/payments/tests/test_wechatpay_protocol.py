"""WeChat Pay v3 signatures and AES-256-GCM, checked against answers computed elsewhere.

The known answers were computed once with the openssl command line (`openssl dgst -sha256
-sign`) over the same messages, so a mistake in our message layout cannot hide behind our own
signing code; AES-GCM is cross-checked with pycryptodomex and with wechatpayv3's decryptor.
"""

import base64
import json
import time

import pytest
from Cryptodome.Cipher import AES
from wechatpayv3.utils import aes_decrypt as oracle_aes_decrypt
from wechatpayv3.utils import build_authorization as oracle_build_authorization
from wechatpayv3.utils import rsa_verify as oracle_rsa_verify

from heatdesk.payments.providers import wechatpay_protocol as proto
from heatdesk.payments.providers.errors import VerificationError
from heatdesk.payments.providers.keys import load_private_key
from heatdesk.payments.tests.support import DATA

KAT_KEY = load_private_key((DATA / "kat_merchant_key.pem").read_text())
NONCE = "593BEC0C930BF1AFEB40B4A08C8FB242"
KAT_BODY = (
    '{"appid":"wx2421b1c4370ec43b","mchid":"1900000001","description":"采暖费",'
    '"out_trade_no":"HT202611240001",'
    '"notify_url":"https://heat.example.cn/payments/notify/wechatpay",'
    '"amount":{"total":223750,"currency":"CNY"},'
    '"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}'
).encode()
# openssl dgst -sha256 -sign kat_merchant_key.pem over the five-line messages.
KAT_POST_SIGNATURE = (
    "qSimntISQDKibADEW22LLnA05xKduJ9doaud0ko7QLpg1Keo4q+aRhQpNZmeSYB4gJnLF+SfkIVZ4W9/UlL0MU73tAp5"
    "mTJLrxF4NMtfagOID3r5+KKq+aCERNO48pRLmyCPeBTUmoQxJVxvpryUOdie6EyfNj4ux362YKFGGb1o+UhC8bwmKyY9"
    "GTHGgNwT+11PLKpnYDv4xhUrtJh6XCBiWhot8wLHtowvhKE95RL3LIw2qIJEosoLDGY3rdW6DIwcocF70CqVpNWMtIyt"
    "HlOJE9/kzvMFaD7Fll0pX+uf/ut+7ocW5dEN31vvvFNriB67d9qpn2BgalGSgoKBgg=="
)
KAT_GET_SIGNATURE = (
    "1cMxuR6A87zkb2JwVumDYaIQY1qD2SFP0f2Y+MS6CT3ViE+dzlNg8JMpnw+zl8bmetSyQVpDoOY0NeDxHAwcSCJo8PB/"
    "VasY5FcDcBDBxzRe9yZBQ4p+DhYgn//usx8cwmhI0G+3a53OldU0SENtn8kDwJQrUQjvgURk8x/dQugsOKq/1LgbP2/K"
    "t30wt+bHYW8racD0GpWroZpZLYimedud86dilHaKSnhb/GMSH6fFn0o0dud+jt5XizLwmOnzo1gn4YYBsvQYbWCOTUEH"
    "JSfGphkibrjrtjx9L8u6I+9LTl6a5ZLRpZCfPM78ZhG/dDM4+bE1TZTFSTE1YWlBqQ=="
)
KAT_PAY_SIGN = (
    "I6A7SzE7ehPReL+sQLv5aBzn8zuSwY/29eLUnHYS63qSrcXW4PNhqv0CydvnRyrr2WYGkE4jahxgIN6Ed0jLhIXfyTpb"
    "K/4GhYK7tpRgTcRtd2pdDudIBRBEcpqMDdkl2NzptYbiNYFDeTdddtOvrvU8eP2Hc3uo+Rl2ahSSQWBts10f0Woc1Ez0"
    "V9z9Oh5Mx6DQLLVQjapmuFtKAdK+UVvUGR2XMCyw+4+HafhlDLUB1Ij5ade2aBTY3gi87XxWN2q3cpFM5tLXxUVuQB5i"
    "q8+HjAbwy9Gdx8I/GWPl32ExhJQynexcsWJSfPeJdjcQWl1GWgiQODljm8/lC9azdg=="
)
API_V3_KEY = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"


def test_post_authorization_signs_the_exact_body_bytes():
    header = proto.build_authorization(
        method="POST",
        canonical_url="/v3/pay/transactions/jsapi",
        body=KAT_BODY,
        mchid="1900000001",
        serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        private_key=KAT_KEY,
        timestamp="1700000000",
        nonce=NONCE,
    )
    assert header == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
        f'signature="{KAT_POST_SIGNATURE}",timestamp="1700000000",'
        'serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"'
    )


def test_get_authorization_signs_an_empty_body_line_and_the_query():
    header = proto.build_authorization(
        method="GET",
        canonical_url="/v3/pay/transactions/out-trade-no/HT202611240001?mchid=1900000001",
        body=b"",
        mchid="1900000001",
        serial_no="S",
        private_key=KAT_KEY,
        timestamp="1700000000",
        nonce=NONCE,
    )
    assert f'signature="{KAT_GET_SIGNATURE}"' in header


def test_our_authorization_matches_wechatpayv3s_for_the_same_inputs(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1700000000.4)
    path = "/v3/pay/transactions/out-trade-no/HT202611240001?mchid=1900000001"
    theirs = oracle_build_authorization(path, "GET", "1900000001", "S", KAT_KEY, nonce_str=NONCE)
    ours = proto.build_authorization(
        method="GET",
        canonical_url=path,
        body=b"",
        mchid="1900000001",
        serial_no="S",
        private_key=KAT_KEY,
        nonce=NONCE,
    )
    assert ours == theirs


def test_pay_sign_covers_the_four_lines_with_the_prepay_id_prefix():
    params = proto.jsapi_pay_params(
        appid="wx2421b1c4370ec43b",
        prepay_id="wx201410272009395522657a690389285100",
        private_key=KAT_KEY,
        timestamp="1554208460",
        nonce=NONCE,
    )
    assert params == {
        "appId": "wx2421b1c4370ec43b",
        "timeStamp": "1554208460",
        "nonceStr": NONCE,
        "package": "prepay_id=wx201410272009395522657a690389285100",
        "signType": "RSA",
        "paySign": KAT_PAY_SIGN,
    }


def test_a_request_verifies_and_every_change_is_refused(stranger_key):
    keys = {"SERIAL1": KAT_KEY.public_key()}
    now = time.time()
    ts = str(int(now))

    def header(**overrides):
        args = {
            "method": "POST",
            "canonical_url": "/v3/pay/transactions/jsapi",
            "body": KAT_BODY,
            "mchid": "1900000001",
            "serial_no": "SERIAL1",
            "private_key": KAT_KEY,
            "timestamp": ts,
        }
        args.update(overrides)
        return proto.build_authorization(**args)

    def verify(auth, body=KAT_BODY, url="/v3/pay/transactions/jsapi", method="POST"):
        return proto.verify_request(
            authorization=auth,
            method=method,
            canonical_url=url,
            body=body,
            merchant_keys=keys,
            now=now,
        )

    assert verify(header()).mchid == "1900000001"
    # the body as sent, not a re-serialisation of it
    respaced = json.dumps(json.loads(KAT_BODY), ensure_ascii=False).encode()
    with pytest.raises(VerificationError):
        verify(header(), body=respaced)
    with pytest.raises(VerificationError):
        verify(header(), url="/v3/pay/transactions/native")
    with pytest.raises(VerificationError, match="serial"):
        verify(header(serial_no="SERIAL2"))
    with pytest.raises(VerificationError):
        verify(header(private_key=stranger_key))
    with pytest.raises(VerificationError, match="window"):
        verify(header(timestamp=str(int(now) - 300)))
    with pytest.raises(VerificationError, match="unix seconds"):
        verify(header(timestamp=str(int(now * 1000))))
    # a GET whose signed message lacks the trailing newline
    message = f"GET\n/v3/x\n{ts}\nN\n".encode()
    from heatdesk.payments.providers.keys import rsa_sha256_sign

    bad = (
        f'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",signature="'
        f'{rsa_sha256_sign(KAT_KEY, message)}",timestamp="{ts}",serial_no="SERIAL1"'
    )
    with pytest.raises(VerificationError):
        verify(bad, body=b"", url="/v3/x", method="GET")


def _platform(key, key_id="PUB_KEY_ID_0112345"):
    return proto.PlatformKeys.build(public_key=key.public_key(), public_key_id=key_id)


def test_a_signed_answer_verifies_and_tampering_is_refused(payment_keys, stranger_key):
    platform_key = payment_keys.wechatpay_platform_key
    platform = _platform(platform_key)
    body = b'{"prepay_id":"wx26112416290000000000000000"}'
    headers = proto.sign_response(body=body, private_key=platform_key, serial="PUB_KEY_ID_0112345")
    assert proto.verify_signed_message(headers=headers, body=body, platform=platform)
    # wechatpayv3 agrees that our signature is right
    assert oracle_rsa_verify(
        headers["Wechatpay-Timestamp"],
        headers["Wechatpay-Nonce"],
        body.decode(),
        headers["Wechatpay-Signature"],
        platform_key.public_key(),
    )
    cases = {
        "tampered body": ({}, body.replace(b"wx26", b"wx27")),
        "wrong key": (
            proto.sign_response(body=body, private_key=stranger_key, serial="PUB_KEY_ID_0112345"),
            body,
        ),
        "wrong serial": ({"Wechatpay-Serial": "PUB_KEY_ID_0199999"}, body),
        "stale": (
            proto.sign_response(
                body=body,
                private_key=platform_key,
                serial="PUB_KEY_ID_0112345",
                timestamp=str(int(time.time()) - 301),
            ),
            body,
        ),
        "probe": (
            {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]},
            body,
        ),
        "no type": ({"Wechatpay-Signature-Type": ""}, body),
        "not base64": ({"Wechatpay-Signature": "%%%"}, body),
    }
    for name, (changes, sent) in cases.items():
        try:
            proto.verify_signed_message(
                headers={**headers, **changes}, body=sent, platform=platform
            )
        except VerificationError:
            continue
        pytest.fail(f"{name} was accepted")


def test_django_meta_and_lower_case_headers_are_read_alike(payment_keys):
    key = payment_keys.wechatpay_platform_key
    body = b""
    headers = proto.sign_response(body=body, private_key=key, serial="PUB_KEY_ID_0112345")
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    lower = {k.lower(): v for k, v in headers.items()}
    for variant in (meta, lower):
        assert proto.verify_signed_message(headers=variant, body=body, platform=_platform(key))


def test_certificate_mode_selects_the_certificate_by_its_hex_serial(payment_keys):
    cert = payment_keys.wechatpay_platform_cert
    platform = proto.PlatformKeys.build(certificates=[cert])
    body = b'{"ok":true}'
    serial = f"{cert.serial_number:x}"  # lower case, as some gateways write it
    headers = proto.sign_response(
        body=body, private_key=payment_keys.wechatpay_platform_key, serial=serial
    )
    assert proto.verify_signed_message(headers=headers, body=body, platform=platform) == serial
    assert platform.public_key_id == ""
    with pytest.raises(VerificationError, match="Serial"):
        proto.verify_signed_message(
            headers={**headers, "Wechatpay-Serial": "ABCDEF"}, body=body, platform=platform
        )


def test_aes_gcm_round_trip_matches_two_independent_implementations():
    plaintext = json.dumps({"out_trade_no": "HT1", "amount": {"total": 1}}).encode()
    resource = proto.encrypt_resource(
        api_v3_key=API_V3_KEY,
        plaintext=plaintext,
        associated_data="transaction",
        nonce="0123456789ab",
    )
    assert (
        proto.decrypt_resource(
            api_v3_key=API_V3_KEY,
            nonce=resource["nonce"],
            ciphertext=resource["ciphertext"],
            associated_data="transaction",
        )
        == plaintext
    )
    # pycryptodomex, from the raw layout: ciphertext ‖ 16-byte tag
    raw = base64.b64decode(resource["ciphertext"])
    cipher = AES.new(API_V3_KEY.encode(), AES.MODE_GCM, nonce=b"0123456789ab")
    cipher.update(b"transaction")
    assert cipher.decrypt_and_verify(raw[:-16], raw[-16:]) == plaintext
    # and wechatpayv3's decryptor
    assert oracle_aes_decrypt(
        "0123456789ab", resource["ciphertext"], "transaction", API_V3_KEY
    ) == (plaintext.decode())


def test_aes_gcm_refuses_tampering_a_wrong_key_and_a_wrong_aad():
    resource = proto.encrypt_resource(
        api_v3_key=API_V3_KEY, plaintext=b'{"a":1}', associated_data="transaction"
    )
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[0] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    attempts = [
        {"api_v3_key": API_V3_KEY, "ciphertext": tampered, "associated_data": "transaction"},
        {
            "api_v3_key": API_V3_KEY[::-1],
            "ciphertext": resource["ciphertext"],
            "associated_data": "transaction",
        },
        {
            "api_v3_key": API_V3_KEY,
            "ciphertext": resource["ciphertext"],
            "associated_data": "refund",
        },
        {"api_v3_key": API_V3_KEY, "ciphertext": "not base64!", "associated_data": "transaction"},
    ]
    for attempt in attempts:
        with pytest.raises(VerificationError):
            proto.decrypt_resource(nonce=resource["nonce"], **attempt)


def test_time_is_written_in_beijing_time_with_its_offset():
    import datetime as dt

    moment = dt.datetime(2026, 11, 24, 16, 30, 5, 123, tzinfo=dt.UTC)
    assert proto.format_time(moment) == "2026-11-25T00:30:05+08:00"
    with pytest.raises(ValueError, match="naive"):
        proto.format_time(dt.datetime(2026, 11, 24, 16, 30))  # noqa: DTZ001
