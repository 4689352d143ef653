"""Independent clients against our simulators: wechatpayv3 and python-alipay-sdk, unmodified.

They were written by other people from the providers' documents, so if our simulator and our
adapter shared a misunderstanding of the protocol, these would disagree. Only the base URL is
changed (a private attribute in both: the versions are pinned in requirements-dev.txt).
"""

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from alipay import AliPay
from cryptography.hazmat.primitives import serialization
from django.test import Client
from wechatpayv3 import WeChatPay, WeChatPayType

from heatdesk.core import clock
from heatdesk.payments.notify import alipay_parse_notify, wechatpay_parse_notify
from heatdesk.payments.providers.keys import private_key_pem, public_key_pem
from heatdesk.sandbox.payment_knobs import knobs_set
from heatdesk.sandbox.payment_models import SandboxPaymentOrder
from heatdesk.sandbox.services import wechat_code_issue


@pytest.fixture
def sim(live_server, payment_settings, receiver):
    payment_settings.WECHATPAY_BASE_URL = f"{live_server.url}/sandbox/wechatpay"
    payment_settings.ALIPAY_GATEWAY = f"{live_server.url}/sandbox/alipay/gateway.do"
    payment_settings.WECHATPAY_NOTIFY_URL = f"{receiver.url}/notify/wechatpay"
    payment_settings.ALIPAY_NOTIFY_URL = f"{receiver.url}/notify/alipay"
    knobs_set(retry_scale=0.001, bill_same_day=True)
    return live_server


def wechatpay_oracle(sim, settings, keys, *, cert_dir=None):
    mode = {}
    if cert_dir is None:
        mode = {
            "public_key": public_key_pem(keys.wechatpay_platform_key.public_key()),
            "public_key_id": keys.wechatpay_platform_public_key_id,
        }
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=settings.WECHATPAY_MCHID,
        private_key=private_key_pem(keys.wechatpay_merchant_key),
        cert_serial_no=keys.wechatpay_merchant_serial,
        appid=settings.WECHATPAY_APPID,
        apiv3_key=keys.wechatpay_api_v3_key,
        notify_url=settings.WECHATPAY_NOTIFY_URL,
        cert_dir=cert_dir,
        timeout=(5, 10),
        **mode,
    )
    wxpay._core._gate_way = f"{sim.url}/sandbox/wechatpay"
    return wxpay


def pay_at_cashier(out_trade_no):
    order = SandboxPaymentOrder.objects.get(out_trade_no=out_trade_no)
    path = f"/sandbox/pay/{order.public_id}/"
    assert Client().get(path).status_code == 200
    assert Client().post(path, {"outcome": "succeed"}).status_code == 302


def test_wechatpayv3_pays_queries_refunds_closes_and_decrypts_our_notify(
    sim, settings, payment_keys, receiver
):
    wxpay = wechatpay_oracle(sim, settings, payment_keys)
    openid = wechat_code_issue(appid=settings.WECHATPAY_APPID, user_key="oracle").openid
    code, text = wxpay.pay(
        description="采暖费 2026-2027",
        out_trade_no="HT-ORACLE-1",
        amount={"total": 223750, "currency": "CNY"},
        payer={"openid": openid},
    )
    assert code == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    # identical re-entry, the same prepay_id
    again = wxpay.pay(
        description="采暖费 2026-2027",
        out_trade_no="HT-ORACLE-1",
        amount={"total": 223750, "currency": "CNY"},
        payer={"openid": openid},
    )
    assert again == (200, text)
    # its paySign is accepted by the cashier stand-in
    ts, nonce, package = "1700000000", "ORACLENONCE", f"prepay_id={prepay_id}"
    pay_sign = wxpay.sign([settings.WECHATPAY_APPID, ts, nonce, package])
    answer = Client().post(
        "/sandbox/wechatpay/request-payment",
        json.dumps(
            {
                "appId": settings.WECHATPAY_APPID,
                "timeStamp": ts,
                "nonceStr": nonce,
                "package": package,
                "signType": "RSA",
                "paySign": pay_sign,
            }
        ),
        content_type="application/json",
    )
    assert answer.json() == {"errMsg": "requestPayment:ok"}
    # the simulator's notify decrypts with wechatpayv3's callback and with ours
    [received] = receiver.wait_for(1)
    decrypted = wxpay.callback(received.headers, received.body)
    assert decrypted["event_type"] == "TRANSACTION.SUCCESS"
    assert decrypted["resource"]["out_trade_no"] == "HT-ORACLE-1"
    assert decrypted["resource"]["amount"]["total"] == 223750
    ours = wechatpay_parse_notify(received.headers, received.body)
    assert ours.transaction_id == decrypted["resource"]["transaction_id"]
    code, text = wxpay.query(out_trade_no="HT-ORACLE-1")
    assert (code, json.loads(text)["trade_state"]) == (200, "SUCCESS")
    code, text = wxpay.refund(
        out_refund_no="RF-ORACLE-1",
        amount={"refund": 100, "total": 223750, "currency": "CNY"},
        out_trade_no="HT-ORACLE-1",
    )
    assert (code, json.loads(text)["status"]) == (200, "PROCESSING")
    code, text = wxpay.query_refund(out_refund_no="RF-ORACLE-1")
    assert (code, json.loads(text)["status"]) == (200, "SUCCESS")
    refund_notify = wxpay.callback(*_headers_body(receiver.wait_for(2)[1]))
    assert refund_notify["resource"]["refund_status"] == "SUCCESS"
    # an unpaid order closes with 204
    wxpay.pay(
        description="采暖费",
        out_trade_no="HT-ORACLE-2",
        amount={"total": 1},
        payer={"openid": openid},
    )
    assert wxpay.close(out_trade_no="HT-ORACLE-2") == (204, "")
    # the bill: ticket verified by wechatpayv3, file bytes match the hash
    code, text = wxpay.trade_bill(bill_date=clock.local_today().isoformat())
    assert code == 200, text
    ticket = json.loads(text)
    code, content = wxpay.download_bill(ticket["download_url"])
    import gzip
    import hashlib

    assert code == 200
    assert hashlib.sha1(gzip.decompress(content)).hexdigest() == ticket["hash_value"]  # noqa: S324


def _headers_body(received):
    return received.headers, received.body


def test_wechatpayv3_in_certificate_mode_verifies_answers_with_the_platform_certificate(
    sim, settings, payment_keys, tmp_path
):
    cert = payment_keys.wechatpay_platform_cert
    (tmp_path / "platform.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    wxpay = wechatpay_oracle(sim, settings, payment_keys, cert_dir=str(tmp_path))
    openid = wechat_code_issue(appid=settings.WECHATPAY_APPID, user_key="cert").openid
    code, text = wxpay.pay(
        description="采暖费",
        out_trade_no="HT-ORACLE-CERT",
        amount={"total": 5},
        payer={"openid": openid},
    )
    assert code == 200, text
    # and it can fetch and decrypt the certificate list itself
    wxpay._core._update_certificates()
    assert [c.serial_number for c in wxpay._core._certificates] == [cert.serial_number]


def test_wechatpayv3_gets_sign_error_with_a_key_we_did_not_register(
    sim, settings, payment_keys, stranger_key
):
    wxpay = wechatpay_oracle(sim, settings, payment_keys)
    wxpay._core._private_key = stranger_key
    code, text = wxpay.query(out_trade_no="HT-NOPE")
    assert (code, json.loads(text)["code"]) == (401, "SIGN_ERROR")


def alipay_oracle(sim, settings, keys):
    ap = AliPay(
        appid=settings.ALIPAY_APP_ID,
        app_notify_url=settings.ALIPAY_NOTIFY_URL,
        app_private_key_string=private_key_pem(keys.alipay_app_key),
        alipay_public_key_string=public_key_pem(keys.alipay_gateway_key.public_key()),
        sign_type="RSA2",
    )
    ap._gateway = f"{sim.url}/sandbox/alipay/gateway.do"
    return ap


def test_python_alipay_sdk_precreates_queries_refunds_and_verifies_our_notify(
    sim, settings, payment_keys, receiver
):
    ap = alipay_oracle(sim, settings, payment_keys)
    node = ap.api_alipay_trade_precreate(
        subject="采暖费 2026-2027", out_trade_no="HT-AORACLE-1", total_amount="2237.50"
    )
    assert node["code"] == "10000", node
    missing = ap.api_alipay_trade_query(out_trade_no="HT-AORACLE-1")
    assert (missing["code"], missing["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")
    path = urlsplit(node["qr_code"]).path
    assert Client().get(path).status_code == 200
    assert Client().post(path, {"outcome": "succeed"}).status_code == 302
    [received] = receiver.wait_for(1)
    form = dict(parse_qsl(received.body.decode(), keep_blank_values=True))
    data = dict(form)
    signature = data.pop("sign")
    assert ap.verify(data, signature)
    tampered = dict(form, total_amount="0.01")
    tampered.pop("sign")
    assert not ap.verify(tampered, signature)
    assert alipay_parse_notify(form).amount_fen == 223750
    query = ap.api_alipay_trade_query(out_trade_no="HT-AORACLE-1")
    assert (query["trade_status"], query["total_amount"]) == ("TRADE_SUCCESS", "2237.50")
    refund = ap.api_alipay_trade_refund(
        refund_amount="37.50", out_trade_no="HT-AORACLE-1", out_request_no="RF-AORACLE-1"
    )
    assert (refund["code"], refund["fund_change"], refund["refund_fee"]) == ("10000", "Y", "37.50")
    status = ap.api_alipay_trade_fastpay_refund_query("RF-AORACLE-1", out_trade_no="HT-AORACLE-1")
    assert status["refund_status"] == "REFUND_SUCCESS"
    closed = ap.api_alipay_trade_close(out_trade_no="HT-AORACLE-1")
    assert closed["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    bill = ap.server_api(
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": clock.local_today().isoformat()},
    )
    assert "/sandbox/alipay/downloadBillFile.resource" in bill["bill_download_url"]


def test_python_alipay_sdk_is_refused_with_a_key_we_did_not_register(
    sim, settings, payment_keys, stranger_key
):
    from alipay import AliPayException
    from Cryptodome.PublicKey import RSA

    ap = alipay_oracle(sim, settings, payment_keys)
    ap._app_private_key = RSA.importKey(private_key_pem(stranger_key))
    with pytest.raises(AliPayException) as refused:
        ap.api_alipay_trade_query(out_trade_no="HT-NOPE")
    assert "code:40002" in str(refused.value)
    assert "isv.invalid-signature" in str(refused.value)
