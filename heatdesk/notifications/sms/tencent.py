"""Tencent Cloud SMS: SendSms, API version 2021-01-11, signed with TC3-HMAC-SHA256.

The request is a POST of a JSON body. The signature covers a canonical request (method, "/",
an empty query, the signed headers lower-cased and sorted, the SHA-256 of the body) under a
key derived from the secret key, the UTC date of X-TC-Timestamp and the service name.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
import string
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

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

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
API_VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"

# Frequency limits and Tencent's own failures pass; a daily cap does not lift within our retries.
RETRYABLE_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def canonical_request(*, headers: Mapping[str, str], payload: bytes) -> tuple[str, str]:
    """The canonical request of a POST to "/" and its signed-headers list."""
    canonical = sorted((k.strip().lower(), v.strip().lower()) for k, v in headers.items())
    header_lines = "".join(f"{k}:{v}\n" for k, v in canonical)
    signed_headers = ";".join(k for k, _ in canonical)
    request = "\n".join(["POST", "/", "", header_lines, signed_headers, _sha256_hex(payload)])
    return request, signed_headers


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    payload: bytes,
) -> str:
    """The Authorization header for a POST with `headers` (all of them signed) and `payload`."""
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    request, signed_headers = canonical_request(headers=headers, payload=payload)
    string_to_sign = "\n".join([ALGORITHM, str(timestamp), scope, _sha256_hex(request.encode())])
    secret_date = _hmac_sha256(f"TC3{secret_key}".encode(), date)
    secret_service = _hmac_sha256(secret_date, service)
    secret_signing = _hmac_sha256(secret_service, "tc3_request")
    signature = hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


def e164(phone: str) -> str:
    """Mainland numbers as +86…; a number that already carries a country code stays as it is."""
    return phone if phone.startswith("+") else f"+86{phone}"


def template_param_values(template_name: str, params: Mapping[str, str]) -> list[str]:
    """The parameter values in the order their placeholders appear in our template text."""
    try:
        text = TEMPLATES[template_name].text
    except KeyError:
        raise SmsError(f"tencent: unknown template {template_name!r}", retryable=False) from None
    names: list[str] = []
    for _, field, _, _ in string.Formatter().parse(text):
        if field is not None and field not in names:
            names.append(field)
    missing = [name for name in names if name not in params]
    if missing:
        raise SmsError(f"tencent: template parameters missing: {missing}", retryable=False)
    return [str(params[name]) for name in names]


def is_retryable(code: str, *, status: int) -> bool:
    if "DailyLimit" in code:
        return False
    return code.startswith(RETRYABLE_PREFIXES) or status >= 500


class TencentSmsProvider:
    name = "tencent"

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        now: Callable[[], dt.datetime] = clock.now,
    ) -> None:
        self.timeout = timeout
        self._now = now

    def request_body(self, message: SmsMessage) -> dict[str, Any]:
        if not settings.TENCENT_SMS_SDK_APP_ID:
            raise SmsError("tencent: TENCENT_SMS_SDK_APP_ID is not set", retryable=False)
        values = template_param_values(message.template, message.params)
        return {
            "PhoneNumberSet": [e164(message.phone)],
            "SmsSdkAppId": settings.TENCENT_SMS_SDK_APP_ID,
            "SignName": settings.SMS_SIGN_NAME,
            "TemplateId": TEMPLATES[message.template].provider_code(),
            "TemplateParamSet": values,
        }

    def send(self, message: SmsMessage) -> SmsReceipt:
        secret_id = settings.TENCENT_SMS_SECRET_ID
        secret_key = settings.TENCENT_SMS_SECRET_KEY
        if not secret_id or not secret_key:
            raise SmsError("tencent: TENCENT_SMS_SECRET_ID/KEY are not set", retryable=False)
        endpoint = check_endpoint(settings.TENCENT_SMS_ENDPOINT, provider=self.name)
        payload = json.dumps(
            self.request_body(message), ensure_ascii=False, separators=(",", ":")
        ).encode()
        timestamp = int(self._now().timestamp())
        signed = {
            "Content-Type": CONTENT_TYPE,
            "Host": urlsplit(endpoint).netloc,
            "X-TC-Action": ACTION,
        }
        authorization = tc3_authorization(
            secret_id=secret_id,
            secret_key=secret_key,
            service=SERVICE,
            timestamp=timestamp,
            headers=signed,
            payload=payload,
        )
        answer = exchange(
            endpoint,
            data=payload,
            method="POST",
            headers={
                **signed,
                "X-TC-Version": API_VERSION,
                "X-TC-Timestamp": str(timestamp),
                "X-TC-Region": settings.TENCENT_SMS_REGION,
                "Authorization": authorization,
            },
            timeout=self.timeout,
            provider=self.name,
        )
        return self._receipt(answer, message=message)

    def _receipt(self, answer: HttpAnswer, *, message: SmsMessage) -> SmsReceipt:
        phone = mask_phone(message.phone)
        try:
            response = json.loads(answer.body)["Response"]
            request_id = str(response.get("RequestId", ""))
            error = response.get("Error")
            if error:
                code, detail = str(error["Code"]), str(error.get("Message", ""))
                send_status = None
            else:
                send_status = response["SendStatusSet"][0]
                code, detail = str(send_status["Code"]), str(send_status.get("Message", ""))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            logger.warning("tencent SMS to %s: unreadable answer (HTTP %s)", phone, answer.status)
            raise SmsError(
                f"tencent: unreadable answer (HTTP {answer.status})",
                retryable=unreadable_is_retryable(answer.status),
            ) from None
        if send_status is not None and code == "Ok":
            logger.info(
                "tencent SMS %s sent to %s (request %s)", message.template, phone, request_id
            )
            return SmsReceipt(
                provider=self.name, message_id=str(send_status.get("SerialNo") or request_id)
            )
        retryable = is_retryable(code, status=answer.status)
        logger.warning(
            "tencent SMS %s to %s refused: %s (HTTP %s, request %s, retryable %s)",
            message.template,
            phone,
            code,
            answer.status,
            request_id,
            retryable,
        )
        raise SmsError(
            f"tencent {code}: {redact(detail)} (request {request_id})", retryable=retryable
        )
