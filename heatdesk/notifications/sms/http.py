"""One HTTP exchange with an SMS provider, on the standard library, with network failures mapped.

Every way the network can fail (refused, reset, DNS, TLS, a timeout while connecting or reading)
becomes a retryable `SmsError`; an HTTP error status is not an exception here, because both
providers answer errors with a JSON body that says what went wrong.
"""

import http.client
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from heatdesk.notifications.sms.base import SmsError

DEFAULT_TIMEOUT_SECONDS = 5.0
# Provider answers are a few hundred bytes; anything far larger is not an answer we can use.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes


def check_endpoint(url: str, *, provider: str) -> str:
    """The endpoint URL with a path of at least "/"; only http and https are allowed."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SmsError(f"{provider}: endpoint must be an http(s) URL", retryable=False)
    return url if parts.path else url + "/"


def exchange(
    url: str,
    *,
    method: str,
    headers: dict[str, str],
    data: bytes | None = None,
    timeout: float,
    provider: str,
) -> HttpAnswer:
    """Send one request and return the status and body, whatever the status."""
    check_endpoint(url, provider=provider)
    # The scheme was just checked: no file:// or custom scheme reaches urllib.
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return HttpAnswer(status=response.status, body=response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
        return HttpAnswer(status=exc.code, body=body)
    except (OSError, http.client.HTTPException) as exc:
        # URLError, ConnectionError and TimeoutError are all OSErrors.
        reason = getattr(exc, "reason", None) or exc
        raise SmsError(
            f"{provider}: network error ({type(reason).__name__})", retryable=True
        ) from exc


def unreadable_is_retryable(status: int) -> bool:
    """An answer that is not the provider's JSON: a gateway or proxy in the way, most likely.

    A client error (4xx other than 429) will not go away by itself; anything else may.
    """
    return not (400 <= status < 500) or status == 429


_DIGITS = re.compile(r"\d{4,}")


def redact(text: str, *, limit: int = 160) -> str:
    """A provider's message, safe to store and log: digit runs masked, length bounded.

    Some provider messages echo the request (Aliyun's signature error quotes the whole string to
    sign, phone number and code included), so long digit runs are masked before anything keeps
    the message.
    """
    return _DIGITS.sub("****", text)[:limit]
