"""The house account: post payments and refunds, post every change of an issued bill, and put
the account's money against its bills, oldest first.

Every function here runs with the house's row locked (`house_lock`, taken first, before any
bill), so the account's sums are read and written by one transaction at a time; each bill's
status then moves by compare-and-set on the amounts and status just read.

Rules:
* A house owes the sum of its ledger entries. A bill's entries sum to its `total_fen`.
* Money on the account (payments less refunds) is allocated to open bills oldest season first;
  what is not allocated is account credit, used by the next bill (多缴转余额).
* A payment that settles a bill in full fixes the late fee as of the payment day into a line
  (and the early-payment discount, if it is paid in time); a partial payment leaves both
  derived.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain
from heatdesk.billing.calculation import DraftLine
from heatdesk.billing.models import Allocation, Bill, BillLine, LedgerEntry
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.billing.selectors.account import credit_fen
from heatdesk.billing.services.ledger_reads import settle_bills_read
from heatdesk.core import clock, rows
from heatdesk.core.errors import Conflict, NotFound, ValidationFailed
from heatdesk.core.inserts import insert_unless_duplicate
from heatdesk.estates.models import House

LIVE = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID, Bill.Status.PAID})
MAX_PAYMENT_FEN = 1_000_000_000  # 1000万元: a typo guard, not a business limit
Kind = LedgerEntry.Kind


_HOUSE_LOCK_SQL = f"SELECT id FROM {House._meta.db_table} WHERE id = %s"  # noqa: S608


def house_lock(house_id: int) -> None:
    """Lock the house's row for the rest of the transaction: the account's one lock."""
    if not connection.in_atomic_block:
        raise RuntimeError("house_lock is taken inside the caller's transaction")
    # Written out and prepared once per connection: every payment takes it. (SQLite has no row
    # locks: its writing transaction holds the whole database, as the ORM's would.)
    if connection.features.has_select_for_update:
        rows.fetch(f"{_HOUSE_LOCK_SQL} FOR UPDATE", [house_id], [], name="billing_house_lock")


# Table names come from the models; values are parameters.
_BILL_MOVE_SQL = (
    f"UPDATE {Bill._meta.db_table} SET total_fen = %s, paid_fen = %s, status = %s"  # noqa: S608
    " WHERE id = %s AND status = %s AND total_fen = %s AND paid_fen = %s"
)


def status_for(*, total_fen: int, paid_fen: int) -> str:
    if total_fen - paid_fen <= 0:
        return Bill.Status.PAID
    return Bill.Status.PARTIALLY_PAID if paid_fen > 0 else Bill.Status.ISSUED


def _bill_move(row: Bill, *, total_fen: int, paid_fen: int) -> str:
    """Compare-and-set the bill from the amounts and status just read to new ones."""
    status = status_for(total_fen=total_fen, paid_fen=paid_fen)
    if status != row.status and status not in Bill.TRANSITIONS[row.status]:
        raise Conflict("账单当前状态不能变更。", code="bill_transition_invalid")
    # Written out: every payment and bill change runs it, and compiling it through the ORM cost
    # more than running it.
    with connection.cursor() as cursor:
        cursor.execute(
            _BILL_MOVE_SQL,
            [
                total_fen,
                paid_fen,
                str(status),
                row.pk,
                str(row.status),
                row.total_fen,
                row.paid_fen,
            ],
        )
        moved = cursor.rowcount
    if not moved:
        # Nothing updated: another transaction changed the bill after we read it.
        raise Conflict("账单刚刚被他人修改，请刷新后重试。", code="bill_conflict")
    row.total_fen, row.paid_fen, row.status = total_fen, paid_fen, status
    return status


def lines_insert(*, bill: Bill, lines: Sequence[DraftLine], by: User | None) -> list[BillLine]:
    return BillLine.objects.bulk_create(
        [
            BillLine(
                bill=bill,
                kind=line.kind,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                ratio=line.ratio,
                amount_fen=line.amount_fen,
                period_from=line.period_from,
                period_to=line.period_to,
                explanation=line.explanation,
                reason=line.reason,
                created_by=by,
            )
            for line in lines
        ]
    )


@dataclass(frozen=True)
class Posted:
    lines: list[BillLine]
    entry: LedgerEntry | None
    released_fen: int


def bill_lines_post(
    *,
    bill: Bill,
    lines: Sequence[DraftLine],
    by: User | None,
    explanation: str,
    kind: str | None = None,
    at: dt.datetime | None = None,
) -> Posted:
    """Append lines to an issued bill and post their sum to the account, in the caller's
    transaction (which holds `house_lock`).

    `kind` defaults to charge or credit by the sign of the sum. When the bill's new total is
    below what was already paid, the excess is taken back from the bill and becomes account
    credit; the caller then puts it to use with `credit_apply`.
    """
    at = at or clock.now()
    row = Bill.objects.get(pk=bill.pk)
    if row.status not in LIVE:
        raise Conflict(
            f"账单状态为“{row.get_status_display()}”，不能添加明细。", code="bill_not_adjustable"
        )
    delta = sum(line.amount_fen for line in lines)
    total = row.total_fen + delta
    if total < 0:
        raise Conflict(
            f"调整后账单合计将为 {explain.yuan(total)}，不能为负数。", code="bill_total_negative"
        )
    paid = min(row.paid_fen, total)
    released = row.paid_fen - paid
    _bill_move(row, total_fen=total, paid_fen=paid)
    created = lines_insert(bill=row, lines=lines, by=by)
    entry = None
    if delta:
        if released:
            explanation += f"；多缴 {explain.yuan(released)} 转入账户余额"
        entry = LedgerEntry.objects.create(
            house_id=row.house_id,
            bill=row,
            kind=kind or (Kind.CHARGE if delta > 0 else Kind.CREDIT),
            amount_fen=delta,
            explanation=explanation[:300],
            occurred_at=at,
            created_by=by,
        )
        if released:
            Allocation.objects.create(
                house_id=row.house_id, bill=row, entry=entry, amount_fen=-released, occurred_at=at
            )
    bill.total_fen, bill.paid_fen, bill.status = row.total_fen, row.paid_fen, row.status
    return Posted(lines=created, entry=entry, released_fen=released)


def bill_issued_post(*, bill: Bill, by: User | None, at: dt.datetime) -> LedgerEntry:
    """The charge of a bill that has just been issued; then account credit goes to it."""
    row = Bill.objects.select_related("season").get(pk=bill.pk)
    entry = LedgerEntry.objects.create(
        house_id=row.house_id,
        bill=row,
        kind=Kind.CHARGE,
        amount_fen=row.total_fen,
        explanation=f"{row.season.code}采暖季热费（账单 {row.public_id}）",
        occurred_at=at,
        created_by=by,
    )
    if row.total_fen == 0:
        _bill_move(row, total_fen=0, paid_fen=0)
    credit_apply(house_id=row.house_id, cause=entry, by=by, at=at)
    return entry


def bill_void_post(*, bill: Bill, by: User | None, reason: str, at: dt.datetime) -> None:
    """A voided bill's charge is reversed, so its entries sum to zero."""
    total = Bill.objects.filter(pk=bill.pk).values_list("total_fen", flat=True).get()
    if total:
        LedgerEntry.objects.create(
            house_id=bill.house_id,
            bill_id=bill.pk,
            kind=Kind.ADJUSTMENT,
            amount_fen=-total,
            explanation=f"账单作废：{reason}"[:300],
            occurred_at=at,
            created_by=by,
        )


def credit_apply(
    *, house_id: int, cause: LedgerEntry, by: User | None, at: dt.datetime
) -> list[Allocation]:
    """Put the account's credit against its open bills, oldest first (caller holds the lock)."""
    if credit_fen(house_id=house_id) <= 0:
        return []
    return _settle(house_id=house_id, cause=cause, by=by, at=at, explicit=())


def _settle(
    *,
    house_id: int,
    cause: LedgerEntry,
    by: User | None,
    at: dt.datetime,
    explicit: Sequence[tuple[int, int]],
) -> list[Allocation]:
    """Allocate the account's credit: first the payer's explicit (bill, amount) choices, then
    the open bills oldest first. A bill the money settles in full gets its late fee (and early
    discount) fixed into lines as of the day of `at` first."""
    pool = credit_fen(house_id=house_id)
    if pool <= 0:
        return []
    as_of = clock.to_local(at).date()
    made: list[Allocation] = []
    bills = settle_bills_read(house_id=house_id, explicit_ids=[pk for pk, _ in explicit])
    targets: list[tuple[int, int | None]] = [
        *explicit,
        *((pk, None) for pk, bill in bills.items() if bill.status in OPEN),
    ]
    seen: set[int] = set()
    for bill_id, cap in targets:
        if pool <= 0:
            break
        if bill_id in seen:
            # Chosen explicitly and met again oldest first: its lines and allocations changed
            # since they were read above, so read it afresh.
            bill = Bill.objects.select_related("season").get(pk=bill_id)
        else:
            bill = bills[bill_id]
        seen.add(bill_id)
        if bill.status not in OPEN:
            continue
        budget = pool if cap is None else min(cap, pool)
        due = bill_due_as_of(bill=bill, as_of=as_of)
        fixes: list[tuple[DraftLine | None, str]] = []
        if budget >= due.due_fen:
            # Settled in full: the late fee and the discount as of today become lines.
            fixes = [
                (due.late_fee, f"滞纳金（截至{explain.day(as_of)}）计入账单 {bill.public_id}"),
                (due.early_discount, f"提前缴费优惠计入账单 {bill.public_id}"),
            ]
        elif budget >= due.outstanding_fen:
            # The principal is covered, so the late fee stops growing: it becomes a line, and
            # what is left of the money goes towards it.
            fixes = [(due.late_fee, f"滞纳金（截至{explain.day(as_of)}）计入账单 {bill.public_id}")]
        for fix, words in fixes:
            if fix is not None:
                posted = bill_lines_post(bill=bill, lines=[fix], by=by, explanation=words, at=at)
                pool += posted.released_fen
                budget = pool if cap is None else min(cap, pool)
        amount = min(budget, bill.total_fen - bill.paid_fen)
        if amount <= 0:
            continue
        _bill_move(bill, total_fen=bill.total_fen, paid_fen=bill.paid_fen + amount)
        made.append(
            Allocation.objects.create(
                house_id=house_id, bill=bill, entry=cause, amount_fen=amount, occurred_at=at
            )
        )
        pool -= amount
    return made


# --- Money in and out --------------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyPosting:
    """The answer to posting a payment or a refund, the same on every repeat."""

    entry: LedgerEntry
    allocations: list[Allocation]
    created: bool


def _money_checks(*, amount_fen: int, source: str, source_id: str) -> None:
    fields: dict[str, list[str]] = {}
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        fields["amount_fen"] = ["金额须为正整数（分）。"]
    elif amount_fen > MAX_PAYMENT_FEN:
        fields["amount_fen"] = ["金额过大，请核对。"]
    if not source or len(source) > 20:
        fields["source"] = ["请填写来源（1–20个字符）。"]
    if not source_id or len(source_id) > 64:
        fields["source_id"] = ["请填写来源单号（1–64个字符）。"]
    if fields:
        raise ValidationFailed("请检查填写的内容。", fields=fields)


def _repeat(*, found: LedgerEntry, house: House, kind: str, amount_fen: int) -> MoneyPosting:
    signed = -amount_fen if kind == Kind.PAYMENT else amount_fen
    if (found.house_id, found.kind, found.amount_fen) != (house.pk, kind, signed):
        raise Conflict("该来源单号已用于另一笔入账，金额或房屋不同。", code="ledger_source_reused")
    return MoneyPosting(
        entry=found, allocations=list(found.allocations.order_by("id")), created=False
    )


def _explicit(
    *, house: House, allocations: Sequence[tuple[Bill, int]] | None, amount_fen: int
) -> list[tuple[int, int]]:
    if not allocations:
        return []
    chosen: list[tuple[int, int]] = []
    for bill, amount in allocations:
        if bill.house_id != house.pk:
            raise ValidationFailed(
                "指定的账单不属于该房屋。", fields={"allocations": ["指定的账单不属于该房屋。"]}
            )
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValidationFailed(
                "分配金额须为正整数（分）。", fields={"allocations": ["分配金额须为正整数（分）。"]}
            )
        chosen.append((bill.pk, amount))
    if sum(amount for _, amount in chosen) > amount_fen:
        raise ValidationFailed(
            "分配金额合计超过缴费金额。", fields={"allocations": ["分配金额合计超过缴费金额。"]}
        )
    return chosen


def ledger_post_payment(
    *,
    house: House,
    amount_fen: int,
    source: str,
    source_id: str,
    allocations: Sequence[tuple[Bill, int]] | None = None,
    paid_at: dt.datetime | None = None,
    by: User | None = None,
    savepoint: bool = True,
) -> MoneyPosting:
    """Post money received for a house and put it against its bills.

    The one entry point for the payments layer (WeChat Pay, Alipay, the counter, the bank).
    `allocations` are the payer's explicit (bill, amount) choices, used first; the rest goes to
    open bills oldest first, and whatever is left is account credit. A bill settled in full gets
    its late fee as of the payment day fixed into a line. Idempotent on (source, source_id): a
    repeat — even a concurrent one — returns the first posting and changes nothing; the same id
    with another house or amount is refused.

    `savepoint=False` for a caller whose own transaction or savepoint already wraps the posting
    (settlement): an error then rolls back the caller's block, which saves two round trips.
    """
    _money_checks(amount_fen=amount_fen, source=source, source_id=source_id)
    at = paid_at or clock.now()
    explicit = _explicit(house=house, allocations=allocations, amount_fen=amount_fen)
    with transaction.atomic(savepoint=savepoint):
        house_lock(house.pk)
        entry = LedgerEntry(
            house=house,
            kind=Kind.PAYMENT,
            amount_fen=-amount_fen,
            explanation=f"缴费 {explain.yuan(amount_fen)}（{source} {source_id}）",
            source=source,
            source_id=source_id,
            occurred_at=at,
            created_by=by,
        )
        # No look-up first: the unique (source, source_id) refuses a repeat's entry (waiting for
        # a concurrent post of it to commit), and the first posting is the answer.
        if not insert_unless_duplicate(entry):
            found = LedgerEntry.objects.filter(source=source, source_id=source_id).first()
            if found is None:
                raise IntegrityError(f"ledger entry {source} {source_id} was refused")
            return _repeat(found=found, house=house, kind=Kind.PAYMENT, amount_fen=amount_fen)
        made = _settle(house_id=house.pk, cause=entry, by=by, at=at, explicit=explicit)
        audit_record(
            actor=by,
            action="billing.payment_post",
            obj=entry,
            after={
                "house": house.account_no,
                "amount_fen": amount_fen,
                "source": source,
                "source_id": source_id,
                "allocations": [[a.bill_id, a.amount_fen] for a in made],
            },
        )
    return MoneyPosting(entry=entry, allocations=made, created=True)


def ledger_post_refund(
    *,
    house: House,
    amount_fen: int,
    source: str,
    source_id: str,
    reason: str,
    by: User | None = None,
) -> MoneyPosting:
    """Record money paid back to the house out of its account credit (never more than the
    credit). Idempotent on (source, source_id) like payments."""
    _money_checks(amount_fen=amount_fen, source=source, source_id=source_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写退款原因。", fields={"reason": ["请填写退款原因。"]})
    try:
        with transaction.atomic():
            house_lock(house.pk)
            found = LedgerEntry.objects.filter(source=source, source_id=source_id).first()
            if found is not None:
                return _repeat(found=found, house=house, kind=Kind.REFUND, amount_fen=amount_fen)
            available = credit_fen(house_id=house.pk)
            if amount_fen > available:
                raise Conflict(
                    f"退款金额超过账户余额 {explain.yuan(max(available, 0))}。",
                    code="refund_exceeds_credit",
                )
            entry = LedgerEntry.objects.create(
                house=house,
                kind=Kind.REFUND,
                amount_fen=amount_fen,
                explanation=f"退款 {explain.yuan(amount_fen)}：{reason}"[:300],
                source=source,
                source_id=source_id,
                occurred_at=clock.now(),
                created_by=by,
            )
            audit_record(
                actor=by,
                action="billing.refund_post",
                obj=entry,
                after={"house": house.account_no, "amount_fen": amount_fen},
                reason=reason,
            )
    except IntegrityError:
        found = LedgerEntry.objects.filter(source=source, source_id=source_id).first()
        if found is None:
            raise
        return _repeat(found=found, house=house, kind=Kind.REFUND, amount_fen=amount_fen)
    return MoneyPosting(entry=entry, allocations=[], created=True)


def _payment_left(payment: LedgerEntry) -> int:
    """What a payment still has after the reversals already posted against it."""
    reversed_fen = sum(payment.reversals.values_list("amount_fen", flat=True))
    return -payment.amount_fen - reversed_fen


def _bills_to_reopen(*, house_id: int, payment: LedgerEntry) -> list[tuple[Bill, int]]:
    """(bill, how much may be taken back from it), newest first: first the bills this payment
    paid (net of what its earlier reversals took back), then any other bill the account's money
    paid — the payment's credit may since have gone to a later bill."""
    own: dict[int, int] = {}
    for bill_id, amount in Allocation.objects.filter(
        entry__in=[payment.pk, *payment.reversals.values_list("pk", flat=True)]
    ).values_list("bill_id", "amount_fen"):
        own[bill_id] = own.get(bill_id, 0) + amount
    bills = list(
        Bill.objects.filter(house_id=house_id, paid_fen__gt=0)
        .select_related("season")
        .order_by("-season__heating_start", "-id")
    )
    first = [(b, min(own[b.pk], b.paid_fen)) for b in bills if own.get(b.pk, 0) > 0]
    rest = [(b, b.paid_fen - max(own.get(b.pk, 0), 0)) for b in bills]
    return first + [(b, cap) for b, cap in rest if cap > 0]


def ledger_reverse_payment(
    *,
    house: House,
    payment_source: str,
    payment_source_id: str,
    amount_fen: int,
    source: str,
    source_id: str,
    reason: str,
    by: User | None = None,
) -> MoneyPosting:
    """Take `amount_fen` of a posted payment back off the account: a refund paid out, or a
    counter payment voided.

    The money comes first out of the account credit, then off the bills the payment paid,
    newest first (then, if its credit has since gone to a later bill, off that bill), and each
    bill it leaves short reopens (PAID → PARTIALLY_PAID or ISSUED). Recorded as one REFUND entry
    pointing at the payment (`reverses`) plus negative allocations; nothing is edited.

    Late fee and early discount: the lines fixed when the payment settled a bill stay as they
    are. A bill's lines are a document of what was charged, and the payment did settle it on
    that day; the reversal returns money, it does not rewrite the bill. The reopened bill then
    owes exactly the amount taken back — its late fee stays fixed as of the payment day (as it
    does after season close) and does not restart, and a discount already granted is kept.

    Refused: a payment that is not on this house, or more than the payment has left after its
    earlier reversals. Idempotent on (source, source_id) like payments: a repeat returns the
    first posting; the same id for another amount or house is refused.
    """
    _money_checks(amount_fen=amount_fen, source=source, source_id=source_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写冲回原因。", fields={"reason": ["请填写冲回原因。"]})
    at = clock.now()
    try:
        with transaction.atomic():
            house_lock(house.pk)
            found = LedgerEntry.objects.filter(source=source, source_id=source_id).first()
            if found is not None:
                return _repeat(found=found, house=house, kind=Kind.REFUND, amount_fen=amount_fen)
            payment = LedgerEntry.objects.filter(
                source=payment_source, source_id=payment_source_id, kind=Kind.PAYMENT
            ).first()
            if payment is None or payment.house_id != house.pk:
                raise NotFound("未找到该房屋的这笔缴费。", code="ledger_payment_not_found")
            left = _payment_left(payment)
            if amount_fen > left:
                raise Conflict(
                    f"冲回金额超过该笔缴费剩余可冲回金额 {explain.yuan(max(left, 0))}。",
                    code="reversal_exceeds_payment",
                )
            from_credit = min(amount_fen, max(credit_fen(house_id=house.pk), 0))
            needed = amount_fen - from_credit
            plan: list[tuple[Bill, int]] = []
            for bill, cap in _bills_to_reopen(house_id=house.pk, payment=payment):
                if needed <= 0:
                    break
                take = min(cap, needed)
                plan.append((bill, take))
                needed -= take
            if needed > 0:
                raise Conflict(
                    "账户中已没有足够的款项可冲回（可能已退款）。", code="reversal_exceeds_account"
                )
            entry = LedgerEntry.objects.create(
                house=house,
                kind=Kind.REFUND,
                amount_fen=amount_fen,
                explanation=(
                    f"冲回缴费 {explain.yuan(amount_fen)}（{payment_source} "
                    f"{payment_source_id}）：{reason}"
                )[:300],
                source=source,
                source_id=source_id,
                reverses=payment,
                occurred_at=at,
                created_by=by,
            )
            made: list[Allocation] = []
            for bill, take in plan:
                row = Bill.objects.get(pk=bill.pk)
                _bill_move(row, total_fen=row.total_fen, paid_fen=row.paid_fen - take)
                made.append(
                    Allocation.objects.create(
                        house_id=house.pk, bill=row, entry=entry, amount_fen=-take, occurred_at=at
                    )
                )
            audit_record(
                actor=by,
                action="billing.payment_reverse",
                obj=entry,
                before={"payment_left_fen": left},
                after={
                    "house": house.account_no,
                    "payment": [payment_source, payment_source_id],
                    "amount_fen": amount_fen,
                    "from_credit_fen": from_credit,
                    "bills": [[a.bill_id, -a.amount_fen] for a in made],
                    "source": source,
                    "source_id": source_id,
                },
                reason=reason,
            )
    except IntegrityError:
        found = LedgerEntry.objects.filter(source=source, source_id=source_id).first()
        if found is None:
            raise
        return _repeat(found=found, house=house, kind=Kind.REFUND, amount_fen=amount_fen)
    return MoneyPosting(entry=entry, allocations=made, created=True)


def bill_late_fee_fix(*, bill: Bill, as_of: dt.date, by: User | None) -> BillLine | None:
    """Fix an open bill's late fee as of `as_of` into a line (at season close); None when the
    bill owes no late fee or has one fixed already. Caller holds the house lock."""
    row = Bill.objects.select_related("season").get(pk=bill.pk)
    if row.status not in OPEN:
        return None
    due = bill_due_as_of(bill=row, as_of=as_of)
    if due.late_fee is None:
        return None
    posted = bill_lines_post(
        bill=row,
        lines=[due.late_fee],
        by=by,
        explanation=f"滞纳金（截至{explain.day(as_of)}）计入账单 {row.public_id}",
    )
    return posted.lines[0]
