"""One HTTP exchange with a payment provider, on the standard library.

Any network failure (refused, reset, DNS, TLS, a timeout while connecting or reading) becomes
ProviderOutcomeUnknown, a timeout ProviderTimeout: we cannot tell whether the provider acted. An
HTTP error status is returned, not raised: both providers explain refusals in the body.
"""

import http.client
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from heatdesk.payments.providers.errors import ProviderOutcomeUnknown, ProviderTimeout

DEFAULT_TIMEOUT_SECONDS = 10.0
# Answers are small JSON documents; bill files can be large but not unbounded.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def _headers(message: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


def check_base_url(url: str) -> str:
    """A base URL without a trailing slash; only http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return url.rstrip("/")


def exchange(
    url: str,
    *,
    method: str,
    headers: dict[str, str],
    data: bytes | None,
    timeout: float,
    provider: str,
) -> HttpAnswer:
    """Send one request; return status, headers and body whatever the status."""
    check_base_url(url)
    # The scheme was just checked: no file:// or custom scheme reaches urllib.
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return HttpAnswer(
                status=response.status,
                headers=_headers(response.headers),
                body=response.read(MAX_ANSWER_BYTES),
            )
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            exc.close()
        return HttpAnswer(status=exc.code, headers=_headers(exc.headers), body=body)
    except TimeoutError as exc:
        raise ProviderTimeout(f"no answer within {timeout:g} s", provider=provider) from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError | socket.timeout):
            raise ProviderTimeout(f"no answer within {timeout:g} s", provider=provider) from exc
        raise ProviderOutcomeUnknown(
            f"network error ({type(reason).__name__})", provider=provider
        ) from exc
