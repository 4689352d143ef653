"""A confirmed payment notify settled in one statement on PostgreSQL: the common case only.

`payments_notify_settle` (migration 0003) stores the notify, settles the order by
compare-and-set, posts the ledger entry, pays the order's bills with their allocations and
writes the audit row, all in one round trip, in the same rows the Python path
(`notify_apply` → `order_settle_waiting` → `ledger_post_payment`) writes. It does so only for
the plain case: an order still waiting for exactly this amount, one house without account
credit, every item for an open bill of that house that owes at least the item, and no late fee
or early discount that settling would fix into a line; and it acknowledges a redelivery of an
event already stored. Anything else — unknown order, another amount, paid already, closed or
failed, a bill paid meanwhile (excess), credit on the account, several houses, a late fee —
writes nothing and answers "not answered", and the caller runs the Python path, which answers
each of those (alerts included).

Outside a transaction the statement commits on its own (autocommit), so an acknowledgement
sent after it still follows the commit; inside the caller's transaction it commits with it.
"""

import datetime as dt
import json
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from heatdesk.billing import explain
from heatdesk.billing.services.ledger import MAX_PAYMENT_FEN
from heatdesk.core import clock, rows
from heatdesk.payments.models import ProviderNotify
from heatdesk.payments.notify import PAYMENT, VerifiedNotify

_SETTLE_SQL = "SELECT payments_notify_settle(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
_OUT_TRADE_NO_MAX = 32


def settles_in_database() -> bool:
    """Whether this connection settles the common case in the database (PostgreSQL, unless
    PAYMENTS_SETTLE_IN_DATABASE is off)."""
    return connection.vendor == "postgresql" and settings.PAYMENTS_SETTLE_IN_DATABASE


class Answer(NamedTuple):
    """`answered`: the database answered the notify, and `notify` is `notify_apply`'s answer
    (the stored row, or None for a redelivery to acknowledge). Otherwise nothing was written
    and the Python path must answer."""

    answered: bool
    notify: ProviderNotify | None = None


_FALLBACK = Answer(answered=False)


def notify_settle_in_database(verified: VerifiedNotify, *, paid_at: dt.datetime) -> Answer:
    """Settle a confirmed payment notify in one statement, or acknowledge a redelivery of one
    already stored; anything else is left to the Python path (see the module's docstring)."""
    if not (verified.kind == PAYMENT and verified.paid) or not settles_in_database():
        return _FALLBACK
    amount = verified.amount_fen
    if not 0 < amount <= MAX_PAYMENT_FEN or len(verified.out_trade_no) > _OUT_TRADE_NO_MAX:
        return _FALLBACK
    now = clock.now()
    event_id, event_type = verified.event_id[:128], verified.event_type[:64]
    found = rows.fetch(
        _SETTLE_SQL,
        [
            verified.provider,
            event_id,
            event_type,
            verified.out_trade_no,
            verified.transaction_id,
            amount,
            paid_at,
            clock.to_local(paid_at).date(),
            json.dumps(verified.payload),
            now,
            # As `ledger_post_payment` explains a payment (one house: the order number).
            f"缴费 {explain.yuan(amount)}（{verified.provider} {verified.out_trade_no}）",
        ],
        [],
        name="payments_notify_settle",
    )
    notify_id = found[0][0] if found else None
    if notify_id is None:
        return _FALLBACK
    if notify_id == 0:
        return Answer(answered=True)  # a redelivery: acknowledged, nothing written
    notify = ProviderNotify(
        pk=notify_id,
        provider=verified.provider,
        event_id=event_id,
        kind=verified.kind,
        event_type=event_type,
        out_trade_no=verified.out_trade_no,
        out_refund_no="",
        outcome=ProviderNotify.Outcome.APPLIED,
        payload=verified.payload,
        received_at=now,
    )
    notify._state.adding = False
    notify._state.db = connection.alias
    return Answer(answered=True, notify=notify)
