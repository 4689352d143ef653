"""A succeeded refund taken back off the houses' accounts: one house gets it all; an order
that paid several houses' bills gives each house back its share in proportion
(`refund_split`), each part posted under the refund number with the house's ordinal appended.
The ledger's source id makes a repeat a no-op."""

from django.db import transaction
from django.db.models import Sum

from heatdesk.accounts.models import User
from heatdesk.billing.models import LedgerEntry
from heatdesk.billing.services.ledger import ledger_reverse_payment
from heatdesk.core.errors import ApplicationError, Conflict
from heatdesk.estates.models import House
from heatdesk.payments.models import PaymentAlert, PaymentOrder, Refund
from heatdesk.payments.services.alerts import alert_raise

LEDGER_SOURCE = "refund"


def _house_shares(order: PaymentOrder) -> list[tuple[House, str, int]]:
    """Each house of the order with its ledger payment id and share, as settlement posted them
    (houses in primary-key order, `ledger_source_id` numbering)."""
    from heatdesk.payments.services.settlement import ledger_source_id

    shares: dict[int, int] = {}
    houses: dict[int, House] = {}
    for item in order.items.select_related("house").order_by("house_id", "id"):
        shares[item.house_id] = shares.get(item.house_id, 0) + item.amount_fen
        houses[item.house_id] = item.house
    ids = sorted(shares)
    return [
        (houses[h], ledger_source_id(order, index=i, houses=len(ids)), shares[h])
        for i, h in enumerate(ids)
    ]


def refund_split(*, shares: list[int], reversed_fen: list[int], amount_fen: int) -> list[int]:
    """Split a refund over the houses of one order in proportion to their shares.

    Aims at the running total: after this refund each house should have had back its share of
    everything refunded so far, rounded down, less what it already had back; the fen left over
    by rounding go one each to the houses furthest below their exact share (earlier houses
    first on a tie). No part is negative and no house gets back more than it paid, so partial
    refunds add up to exactly each house's share once the order is refunded in full. Refused
    (ValueError) when the amount exceeds what is left or a house already had back more than
    its share (then a person posts it)."""
    total = sum(shares)
    target = sum(reversed_fen) + amount_fen
    if total <= 0 or amount_fen < 0 or target > total:
        raise ValueError("refund exceeds the order")
    if any(back < 0 or back > share for share, back in zip(shares, reversed_fen, strict=True)):
        raise ValueError("earlier reversals exceed a house's share")
    room = [share - back for share, back in zip(shares, reversed_fen, strict=True)]
    parts = [
        min(max(target * share // total - back, 0), free)
        for share, back, free in zip(shares, reversed_fen, room, strict=True)
    ]

    def below(i: int) -> int:
        """How far house i would stay below its exact share, times `total`."""
        return target * shares[i] - (reversed_fen[i] + parts[i]) * total

    indices = range(len(shares))
    while sum(parts) > amount_fen:  # rounding up to zero elsewhere: take from the furthest above
        i = min((i for i in indices if parts[i] > 0), key=lambda i: (below(i), -i))
        parts[i] -= 1
    while sum(parts) < amount_fen:
        i = max((i for i in indices if parts[i] < room[i]), key=lambda i: (below(i), -i))
        parts[i] += 1
    return parts


def _refunded_per_house(
    order: PaymentOrder, shares: list[tuple[House, str, int]], *, refund: Refund
) -> list[int]:
    """What each house already had back by other refunds of the order (not this one, so that
    a repeat splits exactly as the first time)."""
    out = []
    for _, payment_source_id, _ in shares:
        entries = LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.REFUND,
            source=LEDGER_SOURCE,
            reverses__source=order.provider,
            reverses__source_id=payment_source_id,
        )
        done = entries.exclude(source_id__startswith=f"{refund.out_refund_no}-").aggregate(
            total=Sum("amount_fen")
        )["total"]
        out.append(int(done or 0))
    return out


def refund_post_to_ledger(*, refund: Refund, by: User | None) -> None:
    """The money is back with the payer: the ledger takes it back off the house's account, in
    the transaction that moved the status (the source id makes a repeat a no-op). An order for
    several houses gives back from each house in proportion to its share (`refund_split`),
    each part under the refund number with the house's ordinal appended."""
    order = refund.order
    shares = _house_shares(order)
    reason = f"退款 {refund.out_refund_no}：{refund.reason}"
    try:
        with transaction.atomic():
            if len(shares) == 1:
                house, payment_source_id, _ = shares[0]
                parts = [(house, payment_source_id, refund.amount_fen, refund.out_refund_no)]
            else:
                try:
                    split = refund_split(
                        shares=[share for _, _, share in shares],
                        reversed_fen=_refunded_per_house(order, shares, refund=refund),
                        amount_fen=refund.amount_fen,
                    )
                except ValueError as exc:
                    raise Conflict(
                        "该订单涉及多个房屋，退款无法按各户份额分摊，须人工入账。",
                        code="refund_ledger_multi_house",
                    ) from exc
                parts = [
                    (house, payment_source_id, part, f"{refund.out_refund_no}-{i + 1}")
                    for i, ((house, payment_source_id, _), part) in enumerate(
                        zip(shares, split, strict=True)
                    )
                ]
            for house, payment_source_id, amount, source_id in parts:
                if amount <= 0:
                    continue
                ledger_reverse_payment(
                    house=house,
                    payment_source=order.provider,
                    payment_source_id=payment_source_id,
                    amount_fen=amount,
                    source=LEDGER_SOURCE,
                    source_id=source_id,
                    reason=reason,
                    by=by,
                )
    except ApplicationError as exc:
        # The provider has paid the money back; the ledger could not follow by itself.
        Refund.objects.filter(pk=refund.pk).update(needs_attention=True)
        alert_raise(
            kind=PaymentAlert.Kind.REFUND_ABNORMAL,
            message=f"退款 {refund.out_refund_no} 已退款，但户账未能自动冲回：{exc.message}",
            provider=order.provider,
            out_trade_no=order.out_trade_no,
            detail={"out_refund_no": refund.out_refund_no, "code": exc.code},
        )
