"""Bills: calculate, issue once per house per season, adjust with new lines, void."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain, terms
from heatdesk.billing.calculation import CalculationError, DraftLine, season_fee_lines
from heatdesk.billing.choices import BillLineKind
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, LedgerEntry, Tariff
from heatdesk.billing.selectors import bill_live_for, tariff_current
from heatdesk.billing.services import ledger
from heatdesk.billing.services.common import move
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from heatdesk.estates.models import House

# Bills a correction line may be added to; the ledger moves their status with their balance.
ADJUSTABLE = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID, Bill.Status.PAID})
MAX_ADJUSTMENT_FEN = 100_000_000  # 100万元: a typo guard, not a business limit


def _tariff_for(*, house: House, season: HeatingSeason) -> Tariff:
    tariff = tariff_current(season=season, usage_type=house.usage_type, user_type=house.user_type)
    if tariff is None:
        raise NotFound(
            f"{season.code}采暖季未设置“{house.get_usage_type_display()}/"
            f"{house.get_user_type_display()}”热价。",
            code="tariff_missing",
        )
    return tariff


def _plan(
    *,
    house: House,
    season: HeatingSeason,
    tariff: Tariff,
    supply_from: dt.date | None,
    supply_until: dt.date | None,
    stopped_from: dt.date | None,
) -> list[DraftLine]:
    if house.heating_status == House.HeatingStatus.DISCONNECTED:
        raise ApplicationError("该户已停供拆网，不开采暖费账单。", code="house_disconnected")
    if house.heating_status == House.HeatingStatus.STOPPED and stopped_from is None:
        # A house stopped before the season pays the stop fee for all of its supply period.
        stopped_from = (supply_from if tariff.prorate_by_day else None) or season.heating_start
    try:
        return season_fee_lines(
            season=terms.season_dates(season),
            terms=terms.tariff_terms(tariff),
            area=terms.chargeable_area(house=house, area_basis=tariff.area_basis),
            supply_from=supply_from,
            supply_until=supply_until,
            stopped_from=stopped_from,
        )
    except CalculationError as exc:
        raise ValidationFailed(str(exc), code="bill_period_invalid") from exc


def bill_calculate(
    *,
    house: House,
    season: HeatingSeason,
    supply_from: dt.date | None = None,
    supply_until: dt.date | None = None,
    stopped_from: dt.date | None = None,
) -> list[DraftLine]:
    """The lines the house's bill would have, from the current tariff; writes nothing.

    `supply_from`/`supply_until` bound a partial season (a new connection, a transfer);
    `stopped_from` is a 报停 effective date (a house marked stopped stops all season).
    """
    tariff = _tariff_for(house=house, season=season)
    return _plan(
        house=house,
        season=season,
        tariff=tariff,
        supply_from=supply_from,
        supply_until=supply_until,
        stopped_from=stopped_from,
    )


def _lines_append(*, bill: Bill, lines: list[DraftLine], by: User | None) -> list[BillLine]:
    """Lines of a draft: they and `total_fen` move in the same transaction. Issued bills take
    lines only through `ledger.bill_lines_post`, which posts them to the house's account."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("bill lines are appended inside the caller's transaction")
    delta = sum(line.amount_fen for line in lines)
    if not Bill.objects.filter(pk=bill.pk, status=Bill.Status.DRAFT).update(
        total_fen=F("total_fen") + delta
    ):
        raise Conflict("账单当前状态不能添加明细。", code="bill_not_adjustable")
    return ledger.lines_insert(bill=bill, lines=lines, by=by)


def _bill_draft(
    *,
    house: House,
    season: HeatingSeason,
    by: User | None,
    supply_from: dt.date | None,
    supply_until: dt.date | None,
    stopped_from: dt.date | None,
) -> Bill:
    if not HeatingSeason.objects.filter(pk=season.pk, status=HeatingSeason.Status.OPEN).exists():
        raise Conflict(f"{season.code}采暖季未开启，不能开账。", code="season_not_open")
    house = House.objects.get(pk=house.pk)
    tariff = _tariff_for(house=house, season=season)
    # Mark the version in use before reading its terms: from here on `tariff_update` refuses,
    # and if it is mid-change we wait for it and read what it committed.
    Tariff.objects.filter(pk=tariff.pk, in_use_since=None).update(in_use_since=clock.now())
    tariff.refresh_from_db()
    lines = _plan(
        house=house,
        season=season,
        tariff=tariff,
        supply_from=supply_from,
        supply_until=supply_until,
        stopped_from=stopped_from,
    )
    area = terms.chargeable_area(house=house, area_basis=tariff.area_basis).value
    bill = Bill.objects.create(
        house=house,
        season=season,
        tariff=tariff,
        status=Bill.Status.DRAFT,
        area=area,
        area_basis=tariff.area_basis,
        area_price=tariff.area_price,
        pricing=tariff.pricing,
        usage_type=house.usage_type,
        user_type=house.user_type,
        heating_status=house.heating_status,
        tariff_version=tariff.version,
    )
    _lines_append(bill=bill, lines=lines, by=by)
    return bill


def bill_issue(
    *,
    house: House,
    season: HeatingSeason,
    issued_by: User | None,
    supply_from: dt.date | None = None,
    supply_until: dt.date | None = None,
    stopped_from: dt.date | None = None,
) -> Bill:
    """Issue the house's bill for the season, or return the bill it already has.

    Idempotent: a second call, even a concurrent one, returns the first bill; the partial
    unique constraint on (house, season) for bills that are not void decides the race. A
    draft left by a billing run is issued as it stands.
    """
    bill = bill_live_for(house=house, season=season)
    if bill is not None and bill.status != Bill.Status.DRAFT:
        return bill
    try:
        with transaction.atomic():
            ledger.house_lock(house.pk)
            if bill is None:
                bill = _bill_draft(
                    house=house,
                    season=season,
                    by=issued_by,
                    supply_from=supply_from,
                    supply_until=supply_until,
                    stopped_from=stopped_from,
                )
            now = clock.now()
            if not Bill.objects.filter(pk=bill.pk, status=Bill.Status.DRAFT).update(
                status=Bill.Status.ISSUED, issued_at=now, issued_by=issued_by
            ):
                raise Conflict("账单状态刚刚被他人修改，请刷新后重试。", code="bill_conflict")
            ledger.bill_issued_post(bill=bill, by=issued_by, at=now)
            bill.refresh_from_db()
            audit_record(
                actor=issued_by,
                action="billing.bill_issue",
                obj=bill,
                before={"status": Bill.Status.DRAFT},
                after={
                    "status": bill.status,
                    "total_fen": bill.total_fen,
                    "tariff_id": bill.tariff_id,
                    "tariff_version": bill.tariff_version,
                },
            )
    except (IntegrityError, Conflict):
        # Another request issued this house's bill first; theirs is the answer to ours too.
        winner = bill_live_for(house=house, season=season)
        if winner is None or winner.status == Bill.Status.DRAFT:
            raise
        return winner
    return bill


def bill_adjust(*, bill: Bill, amount_fen: int, reason: str, by: User | None) -> BillLine:
    """Correct an issued bill with a new line (issued bills are never edited), audited."""
    reason = (reason or "").strip()
    fields: dict[str, list[str]] = {}
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen == 0:
        fields["amount_fen"] = ["调整金额须为非零整数（分）。"]
    elif abs(amount_fen) > MAX_ADJUSTMENT_FEN:
        fields["amount_fen"] = ["调整金额过大，请核对。"]
    if not reason:
        fields["reason"] = ["请填写调整原因。"]
    elif len(reason) > 200:
        fields["reason"] = ["调整原因不能超过200字。"]
    if fields:
        raise ValidationFailed("请检查填写的内容。", fields=fields)
    with transaction.atomic():
        ledger.house_lock(bill.house_id)
        before = Bill.objects.select_for_update().get(pk=bill.pk)
        if before.status not in ADJUSTABLE:
            raise Conflict(
                f"账单状态为“{before.get_status_display()}”，不能调整。",
                code="bill_not_adjustable",
            )
        sign = "+" if amount_fen > 0 else ""
        words = f"费用调整 {sign}{explain.yuan(amount_fen)}：{reason}"
        now = clock.now()
        posted = ledger.bill_lines_post(
            bill=bill,
            lines=[
                DraftLine(
                    kind=BillLineKind.ADJUSTMENT,
                    amount_fen=amount_fen,
                    explanation=words,
                    reason=reason,
                )
            ],
            by=by,
            explanation=words,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            at=now,
        )
        (line,) = posted.lines
        if posted.entry is not None:
            ledger.credit_apply(house_id=bill.house_id, cause=posted.entry, by=by, at=now)
        audit_record(
            actor=by,
            action="billing.bill_adjust",
            obj=before,
            before={"total_fen": before.total_fen, "status": before.status},
            after={
                "total_fen": before.total_fen + amount_fen,
                "status": Bill.objects.filter(pk=bill.pk).values_list("status", flat=True).get(),
                "line_id": line.pk,
            },
            reason=reason,
        )
    bill.refresh_from_db()
    return line


def bill_void(*, bill: Bill, reason: str, by: User | None) -> Bill:
    """Void a draft or unpaid bill; the house can then be billed again for the season."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写作废原因。", fields={"reason": ["请填写作废原因。"]})
    with transaction.atomic():
        ledger.house_lock(bill.house_id)
        now = clock.now()
        before = move(
            Bill,
            bill,
            to=Bill.Status.VOID,
            code="bill_transition_invalid",
            voided_at=now,
            voided_by=by,
            void_reason=reason[:200],
        )
        if before != Bill.Status.DRAFT:
            ledger.bill_void_post(bill=bill, by=by, reason=reason, at=now)
        audit_record(
            actor=by,
            action="billing.bill_void",
            obj=bill,
            before={"status": before},
            after={"status": Bill.Status.VOID},
            reason=reason,
        )
    bill.refresh_from_db()
    return bill
