"""Signed self-service links (status, cancel, reschedule) that work from an SMS, no login needed.

The token is the booking's short code signed with the site's secret and a timestamp
(django.core.signing), so it cannot be forged or guessed and stops working after LINK_MAX_AGE.
"""

import datetime as dt

from django.conf import settings
from django.core import signing

from heatdesk.bookings.models import Booking
from heatdesk.core.errors import NotFound

SALT = "heatdesk.bookings.self-service"
LINK_MAX_AGE = dt.timedelta(days=90)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def link_token(booking: Booking) -> str:
    return _signer().sign(booking.code)


def link_url(booking: Booking) -> str:
    base = str(settings.PUBLIC_BASE_URL).rstrip("/")
    return f"{base}/m/b/{link_token(booking)}/"  # the resident page; the API serves the token too


def code_from_token(token: str) -> str:
    """The booking code in a valid token; a bad or expired token is 'not found'."""
    try:
        return _signer().unsign(token, max_age=LINK_MAX_AGE)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise NotFound("链接无效或已过期。", code="link_invalid") from exc
