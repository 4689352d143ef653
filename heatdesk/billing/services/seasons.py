"""Seasons: create, change while draft, open and close (compare-and-set, audited)."""

from typing import Any

from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.models import Bill, HeatingSeason
from heatdesk.billing.selectors import OPEN
from heatdesk.billing.services import ledger
from heatdesk.billing.services.common import (
    SEASON_FIELDS,
    check_fields,
    full_clean,
    move,
    snapshot,
)
from heatdesk.core import clock
from heatdesk.core.errors import Conflict


def season_create(*, by: User | None, **fields: Any) -> HeatingSeason:
    """Create a season in draft, its dates and payment rules checked before anything is saved."""
    check_fields(fields, SEASON_FIELDS)
    season = HeatingSeason(created_by=by, **fields)
    full_clean(season)
    with transaction.atomic():
        season.save()
        season.refresh_from_db()
        audit_record(
            actor=by,
            action="billing.season_create",
            obj=season,
            after=snapshot(season, SEASON_FIELDS),
        )
    return season


def season_update(*, season: HeatingSeason, by: User | None, **changes: Any) -> HeatingSeason:
    """Change a season still in draft. An open season's rules are what its bills were told."""
    check_fields(changes, SEASON_FIELDS)
    with transaction.atomic():
        current = HeatingSeason.objects.select_for_update().get(pk=season.pk)
        if current.status != HeatingSeason.Status.DRAFT:
            raise Conflict("采暖季已开启，不能再修改规则。", code="season_not_draft")
        before = snapshot(current, list(changes))
        for name, value in changes.items():
            setattr(current, name, value)
        full_clean(current)
        current.save(update_fields=list(changes))
        current.refresh_from_db()
        audit_record(
            actor=by,
            action="billing.season_update",
            obj=current,
            before=before,
            after=snapshot(current, list(changes)),
        )
    return current


def season_open(*, season: HeatingSeason, by: User | None) -> HeatingSeason:
    """Open a draft season: bills can be issued from now on."""
    return _season_move(
        season=season, to=HeatingSeason.Status.OPEN, by=by, verb="open", opened_at=clock.now()
    )


def season_close(*, season: HeatingSeason, by: User | None) -> HeatingSeason:
    """Close an open season: no new bills; existing bills stay payable.

    In the same transaction, every bill of the season still waiting for money gets its late fee
    as of today fixed into a line: from then on it is a charge like any other, and no more
    accrues.
    """
    with transaction.atomic():
        before = move(
            HeatingSeason,
            season,
            to=HeatingSeason.Status.CLOSED,
            code="season_transition_invalid",
            closed_at=clock.now(),
        )
        fixed = _late_fees_fix(season=season, by=by)
        audit_record(
            actor=by,
            action="billing.season_close",
            obj=season,
            before={"status": before},
            after={"status": HeatingSeason.Status.CLOSED, "late_fees_fixed": fixed},
        )
    season.refresh_from_db()
    return season


def _late_fees_fix(*, season: HeatingSeason, by: User | None) -> int:
    today = clock.local_today()
    fixed = 0
    open_bills = Bill.objects.filter(season=season, status__in=OPEN).order_by("house_id", "id")
    for bill in open_bills.iterator(chunk_size=2000):
        ledger.house_lock(bill.house_id)
        if ledger.bill_late_fee_fix(bill=bill, as_of=today, by=by) is not None:
            fixed += 1
    return fixed


def _season_move(
    *, season: HeatingSeason, to: str, by: User | None, verb: str, **stamps: Any
) -> HeatingSeason:
    with transaction.atomic():
        before = move(HeatingSeason, season, to=to, code="season_transition_invalid", **stamps)
        audit_record(
            actor=by,
            action=f"billing.season_{verb}",
            obj=season,
            before={"status": before},
            after={"status": to},
        )
    season.refresh_from_db()
    return season
