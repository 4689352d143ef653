"""The interface every SMS provider implements."""

from dataclasses import dataclass
from typing import Protocol


class SmsError(Exception):
    """The provider refused or could not be reached; `retryable` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    template: str  # our template name, e.g. "login_code"
    params: dict[str, str]
    text: str  # the rendered Chinese text, for providers and inboxes that show text


@dataclass(frozen=True)
class SmsReceipt:
    provider: str
    message_id: str


class SmsProvider(Protocol):
    name: str

    def send(self, message: SmsMessage) -> SmsReceipt: ...
