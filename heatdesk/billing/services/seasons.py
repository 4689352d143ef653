"""Seasons: create, change while draft, open and close (compare-and-set, audited)."""

from typing import Any

from django.db import transaction

from heatdesk.accounts.models import User
from heatdesk.audit.services import audit_record
from heatdesk.billing.models import HeatingSeason
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
    """Close an open season: no new bills; existing bills stay payable."""
    return _season_move(
        season=season, to=HeatingSeason.Status.CLOSED, by=by, verb="close", closed_at=clock.now()
    )


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
