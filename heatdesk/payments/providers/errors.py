"""What can go wrong when talking to a payment provider, as three distinct exceptions.

The difference matters for money: after a refusal the call certainly did not take effect; after
an unknown outcome it may have (a timeout after the provider committed the order), so the caller
must keep the same out_trade_no / out_refund_no and query or replay the identical request.
"""

from heatdesk.core.errors import ApplicationError


class ProviderError(Exception):
    """Base class for provider trouble; `provider` is "wechatpay" or "alipay"."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class ProviderRefused(ProviderError):
    """A definitive answer: the provider did not do what was asked (or the thing does not exist).

    `code` is the provider's own code (SIGN_ERROR, ORDER_NOT_EXIST, ACQ.TRADE_NOT_EXIST, …);
    `retryable` is true for refusals that may pass later with the *same* request (rate limits,
    a bill that is still being generated).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str,
        status: int = 0,
        retryable: bool = False,
    ) -> None:
        super().__init__(f"{code}: {message}", provider=provider)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.provider_message = message


class ProviderOutcomeUnknown(ProviderError):
    """No trustworthy answer: network failure, 5xx, SYSTEM_ERROR/20000, or an answer whose
    signature does not verify. The request may have taken effect: query, or replay it unchanged."""


class ProviderTimeout(ProviderOutcomeUnknown):
    """The provider did not answer in time (a special case of an unknown outcome)."""


class VerificationError(ValueError):
    """A signature, timestamp, serial, merchant or ciphertext check failed."""


class NotifyRejected(ApplicationError):
    """A payment notification that must not be acted on: forged, tampered, stale or foreign.

    The notify endpoint answers it with a 4xx (WeChat) or a body other than `success` (Alipay),
    and the provider will deliver the genuine notification again."""

    code = "payment_notify_rejected"
    status = 400
