"""Aliyun (Alibaba Cloud) SMS: Dysmsapi SendSms, API version 2017-05-25, RPC-style signature.

The request is a GET whose query holds every parameter plus `Signature`, the base64 HMAC-SHA1
(key: the AccessKey secret followed by "&") of ``GET&%2F&`` + the percent-encoded canonical
query (parameters sorted by name, names and values percent-encoded per RFC 3986).
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from urllib.parse import quote

from django.conf import settings

from heatdesk.core import clock
from heatdesk.core.masking import mask_phone
from heatdesk.notifications.sms.base import SmsError, SmsMessage, SmsReceipt
from heatdesk.notifications.sms.http import (
    DEFAULT_TIMEOUT_SECONDS,
    HttpAnswer,
    check_endpoint,
    exchange,
    redact,
    unreadable_is_retryable,
)
from heatdesk.notifications.sms.templates import TEMPLATES

logger = logging.getLogger("heatdesk.sms")

API_VERSION = "2017-05-25"
REGION_ID = "cn-hangzhou"

# Worth another try later: throttling, the provider's own failures, a nonce clash.
RETRYABLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "ServiceUnavailable",
        "InternalError",
        "SignatureNonceUsed",
    }
)
RETRYABLE_PREFIXES = ("Throttling", "isp.")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding: only A-Z a-z 0-9 - _ . ~ stay as they are; space is %20."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)


def rpc_signature(params: Mapping[str, str], *, secret: str, method: str = "GET") -> str:
    """The `Signature` parameter for `params` (which must not be percent-encoded yet)."""
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _new_nonce() -> str:
    return uuid.uuid4().hex


def is_retryable(code: str, *, status: int) -> bool:
    return code in RETRYABLE_CODES or code.startswith(RETRYABLE_PREFIXES) or status >= 500


class AliyunSmsProvider:
    name = "aliyun"

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], dt.datetime] = clock.now,
        nonce: Callable[[], str] = _new_nonce,
    ) -> None:
        self.timeout = timeout
        self._now = now
        self._nonce = nonce

    def request_params(self, message: SmsMessage) -> dict[str, str]:
        """Every query parameter of the SendSms call for `message`, without the signature."""
        key_id = settings.ALIYUN_SMS_ACCESS_KEY_ID
        if not key_id or not settings.ALIYUN_SMS_ACCESS_KEY_SECRET:
            raise SmsError("aliyun: ALIYUN_SMS_ACCESS_KEY_ID/SECRET are not set", retryable=False)
        try:
            template_code = TEMPLATES[message.template].provider_code()
        except KeyError:
            raise SmsError(
                f"aliyun: unknown template {message.template!r}", retryable=False
            ) from None
        timestamp = self._now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "AccessKeyId": key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": message.phone,
            "RegionId": REGION_ID,
            "SignName": settings.SMS_SIGN_NAME,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(message.params, ensure_ascii=False, separators=(",", ":")),
            "Timestamp": timestamp,
            "Version": API_VERSION,
        }

    def send(self, message: SmsMessage) -> SmsReceipt:
        endpoint = check_endpoint(settings.ALIYUN_SMS_ENDPOINT, provider=self.name)
        params = self.request_params(message)
        signature = rpc_signature(params, secret=settings.ALIYUN_SMS_ACCESS_KEY_SECRET)
        query = f"Signature={percent_encode(signature)}&{canonical_query(params)}"
        answer = exchange(
            f"{endpoint}?{query}",
            method="GET",
            headers={"Accept": "application/json"},
            timeout=self.timeout,
            provider=self.name,
        )
        return self._receipt(answer, message=message)

    def _receipt(self, answer: HttpAnswer, *, message: SmsMessage) -> SmsReceipt:
        phone = mask_phone(message.phone)
        try:
            body = json.loads(answer.body)
            code = str(body["Code"])
        except (ValueError, TypeError, KeyError):
            logger.warning("aliyun SMS to %s: unreadable answer (HTTP %s)", phone, answer.status)
            raise SmsError(
                f"aliyun: unreadable answer (HTTP {answer.status})",
                retryable=unreadable_is_retryable(answer.status),
            ) from None
        request_id = str(body.get("RequestId", ""))
        if code == "OK":
            logger.info(
                "aliyun SMS %s sent to %s (request %s)", message.template, phone, request_id
            )
            # BizId is what delivery reports and the console search by; it is always present
            # on success, the request id is only a fallback so a sent message is never retried.
            return SmsReceipt(provider=self.name, message_id=str(body.get("BizId") or request_id))
        retryable = is_retryable(code, status=answer.status)
        logger.warning(
            "aliyun SMS %s to %s refused: %s (HTTP %s, request %s, retryable %s)",
            message.template,
            phone,
            code,
            answer.status,
            request_id,
            retryable,
        )
        detail = redact(str(body.get("Message", "")))
        raise SmsError(f"aliyun {code}: {detail} (request {request_id})", retryable=retryable)
