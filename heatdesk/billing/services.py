"""Billing writes: seasons and their transitions, tariff versions, issuing and correcting bills.

Every transition is a compare-and-set UPDATE on the status the service just read; a bill's lines
and its `total_fen` change together in `_lines_append` and nowhere else.
"""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing import explain, terms
from heatdesk.billing.calculation import CalculationError, DraftLine, season_fee_lines
from heatdesk.billing.choices import BillLineKind
from heatdesk.billing.models import Bill, BillLine, HeatingSeason, Tariff
from heatdesk.billing.selectors import bill_live_for, tariff_current
from heatdesk.core import clock
from heatdesk.core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from heatdesk.estates.models import House

SEASON_FIELDS = frozenset(
    {
        "code",
        "heating_start",
        "heating_end",
        "bill_issue_date",
        "payment_due_date",
        "stop_apply_deadline",
        "early_discount_rate",
        "early_discount_last_day",
        "late_fee_kind",
        "late_fee_rate",
        "late_fee_start_date",
        "late_fee_cap_ratio",
        "late_fee_stops_at_cutoff",
    }
)
TARIFF_TERMS = frozenset(
    {
        "pricing",
        "area_basis",
        "area_price",
        "basic_price",
        "basic_ratio",
        "metered_price",
        "metered_unit",
        "settlement_mode",
        "settlement_cap_ratio",
        "stop_basic_ratio",
        "prorate_by_day",
        "surcharge_ratio",
        "relief_ratio",
        "relief_funding_source",
        "note",
    }
)
# Bills a correction line may be added to. A paid bill waits for the ledger, which moves its
# status with its balance.
ADJUSTABLE = frozenset({Bill.Status.ISSUED, Bill.Status.PARTIALLY_PAID})
MAX_ADJUSTMENT_FEN = 100_000_000  # 100万元: a typo guard, not a business limit


def _check_fields(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(f"unknown fields: {', '.join(unknown)}")


def _full_clean(obj: models.Model, *, exclude: list[str] | None = None) -> None:
    """Model and constraint validation as a 422 with per-field Chinese messages."""
    try:
        obj.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        raise ValidationFailed("请检查填写的内容。", fields=fields) from exc


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a field value for the audit log."""
    return value if value is None or isinstance(value, bool | int | str) else str(value)


def _snapshot(obj: models.Model, names: frozenset[str] | list[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in sorted(names)}


def _move(
    model: type[HeatingSeason] | type[Bill],
    obj: HeatingSeason | Bill,
    *,
    to: str,
    code: str,
    **stamps: Any,
) -> str:
    """Compare-and-set `obj` from its current status to `to`; returns the status it left."""
    current = model.objects.filter(pk=obj.pk).values_list("status", flat=True).get()
    if to not in model.TRANSITIONS[current]:
        labels = dict(model.Status.choices)
        raise Conflict(f"当前状态为“{labels[current]}”，不能改为“{labels[to]}”。", code=code)
    if not model.objects.filter(pk=obj.pk, status=current).update(status=to, **stamps):
        # Nothing updated: another request moved it between our read and our write.
        raise Conflict("状态刚刚被他人修改，请刷新后重试。", code=code)
    return current


# --- Seasons -----------------------------------------------------------------------------


def season_create(*, by: User | None, **fields: Any) -> HeatingSeason:
    """Create a season in draft, its dates and payment rules checked before anything is saved."""
    _check_fields(fields, SEASON_FIELDS)
    season = HeatingSeason(created_by=by, **fields)
    _full_clean(season)
    with transaction.atomic():
        season.save()
        audit_record(
            actor=by,
            action="billing.season_create",
            obj=season,
            after=_snapshot(season, SEASON_FIELDS),
        )
    return season


def season_update(*, season: HeatingSeason, by: User | None, **changes: Any) -> HeatingSeason:
    """Change a season still in draft. An open season's rules are what its bills were told."""
    _check_fields(changes, SEASON_FIELDS)
    with transaction.atomic():
        current = HeatingSeason.objects.select_for_update().get(pk=season.pk)
        if current.status != HeatingSeason.Status.DRAFT:
            raise Conflict("采暖季已开启，不能再修改规则。", code="season_not_draft")
        before = _snapshot(current, list(changes))
        for name, value in changes.items():
            setattr(current, name, value)
        _full_clean(current)
        current.save(update_fields=list(changes))
        audit_record(
            actor=by,
            action="billing.season_update",
            obj=current,
            before=before,
            after=_snapshot(current, list(changes)),
        )
    return current


def season_open(*, season: HeatingSeason, by: User | None) -> HeatingSeason:
    """Open a draft season: bills can be issued from now on."""
    return _season_move(season=season, to=HeatingSeason.Status.OPEN, by=by, opened_at=clock.now())


def season_close(*, season: HeatingSeason, by: User | None) -> HeatingSeason:
    """Close an open season: no new bills; existing bills stay payable."""
    return _season_move(season=season, to=HeatingSeason.Status.CLOSED, by=by, closed_at=clock.now())


def _season_move(
    *, season: HeatingSeason, to: str, by: User | None, **stamps: Any
) -> HeatingSeason:
    with transaction.atomic():
        before = _move(HeatingSeason, season, to=to, code="season_transition_invalid", **stamps)
        audit_record(
            actor=by,
            action=f"billing.season_{to}",
            obj=season,
            before={"status": before},
            after={"status": to},
        )
    season.refresh_from_db()
    return season


# --- Tariffs -----------------------------------------------------------------------------


def tariff_create(
    *, season: HeatingSeason, usage_type: str, user_type: str, by: User | None, **terms_: Any
) -> Tariff:
    """Add the next version of the price for (season, usage type, user type); version 1 first.

    New bills take the highest version; bills already issued keep the version they used.
    """
    _check_fields(terms_, TARIFF_TERMS)
    if HeatingSeason.objects.filter(pk=season.pk, status=HeatingSeason.Status.CLOSED).exists():
        raise Conflict("采暖季已结束，不能再设置热价。", code="season_closed")
    last = (
        Tariff.objects.filter(season=season, usage_type=usage_type, user_type=user_type)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    tariff = Tariff(
        season=season,
        usage_type=usage_type,
        user_type=user_type,
        version=(last or 0) + 1,
        created_by=by,
        **terms_,
    )
    _full_clean(tariff)
    try:
        with transaction.atomic():
            tariff.save()
            audit_record(
                actor=by,
                action="billing.tariff_create",
                obj=tariff,
                after={"version": tariff.version, **_snapshot(tariff, TARIFF_TERMS)},
            )
    except IntegrityError as exc:
        # The unique (season, usage, user, version) refused ours: someone added it first.
        raise Conflict(
            "该热价刚刚被他人创建了新版本，请刷新后重试。", code="tariff_conflict"
        ) from exc
    return tariff


def tariff_new_version(*, tariff: Tariff, by: User | None, **changes: Any) -> Tariff:
    """Copy a version with some terms changed: how a tariff used by bills is corrected."""
    _check_fields(changes, TARIFF_TERMS)
    copied = {name: getattr(tariff, name) for name in TARIFF_TERMS}
    copied.update(changes)
    return tariff_create(
        season=tariff.season,
        usage_type=tariff.usage_type,
        user_type=tariff.user_type,
        by=by,
        **copied,
    )


def tariff_update(*, tariff: Tariff, by: User | None, **changes: Any) -> Tariff:
    """Change a version no bill has used yet; a used version refuses (make a new version)."""
    _check_fields(changes, TARIFF_TERMS)
    with transaction.atomic():
        # The lock orders us against the bill that marks this version in use (`_bill_draft`).
        current = Tariff.objects.select_for_update().get(pk=tariff.pk)
        if current.in_use_since is not None:
            raise Conflict("该热价版本已被账单使用，不能修改；请创建新版本。", code="tariff_in_use")
        before = _snapshot(current, list(changes))
        for name, value in changes.items():
            setattr(current, name, value)
        _full_clean(current)
        current.save(update_fields=list(changes))
        audit_record(
            actor=by,
            action="billing.tariff_update",
            obj=current,
            before=before,
            after=_snapshot(current, list(changes)),
        )
    return current


# --- Bills -------------------------------------------------------------------------------


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


def _lines_append(
    *, bill: Bill, lines: list[DraftLine], by: User | None, statuses: frozenset[str]
) -> list[BillLine]:
    """The one way lines reach a bill: they and `total_fen` move in the same transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("bill lines are appended inside the caller's transaction")
    delta = sum(line.amount_fen for line in lines)
    if not Bill.objects.filter(pk=bill.pk, status__in=statuses).update(
        total_fen=F("total_fen") + delta
    ):
        raise Conflict("账单当前状态不能添加明细。", code="bill_not_adjustable")
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
    _lines_append(bill=bill, lines=lines, by=by, statuses=frozenset({Bill.Status.DRAFT}))
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
            if bill is None:
                bill = _bill_draft(
                    house=house,
                    season=season,
                    by=issued_by,
                    supply_from=supply_from,
                    supply_until=supply_until,
                    stopped_from=stopped_from,
                )
            if not Bill.objects.filter(pk=bill.pk, status=Bill.Status.DRAFT).update(
                status=Bill.Status.ISSUED, issued_at=clock.now(), issued_by=issued_by
            ):
                raise Conflict("账单状态刚刚被他人修改，请刷新后重试。", code="bill_conflict")
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
        before = Bill.objects.select_for_update().get(pk=bill.pk)
        if before.status not in ADJUSTABLE:
            raise Conflict(
                f"账单状态为“{before.get_status_display()}”，不能调整。",
                code="bill_not_adjustable",
            )
        sign = "+" if amount_fen > 0 else ""
        (line,) = _lines_append(
            bill=before,
            lines=[
                DraftLine(
                    kind=BillLineKind.ADJUSTMENT,
                    amount_fen=amount_fen,
                    explanation=f"费用调整 {sign}{explain.yuan(amount_fen)}：{reason}",
                    reason=reason,
                )
            ],
            by=by,
            statuses=ADJUSTABLE,
        )
        audit_record(
            actor=by,
            action="billing.bill_adjust",
            obj=before,
            before={"total_fen": before.total_fen},
            after={"total_fen": before.total_fen + amount_fen, "line_id": line.pk},
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
        before = _move(
            Bill,
            bill,
            to=Bill.Status.VOID,
            code="bill_transition_invalid",
            voided_at=clock.now(),
            voided_by=by,
            void_reason=reason[:200],
        )
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
