"""Bills, account and 报停/复供 for residents (bearer auth).

A resident reaches a house's billing only through `house_get_for_resident`: a house that is not
bound to the caller — and every bill, entry or application of it — answers `house_not_found`
(404), never 403, so nothing tells whether it exists. Staff endpoints live in `api_staff.py`
and are mounted on this router.

Errors every endpoint can answer: `unauthenticated` (401), `phone_verification_required`,
`privacy_consent_required` (403).
"""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status

from heatdesk.accounts.auth import resident_ready
from heatdesk.billing import presenters
from heatdesk.billing.api_staff import ERRORS
from heatdesk.billing.api_staff import router as staff_router
from heatdesk.billing.api_waivers import router as waivers_router
from heatdesk.billing.models import HeatingSeason
from heatdesk.billing.schemas import (
    AccountOut,
    BillDetailOut,
    BillOut,
    HeatingChangeIn,
    HeatingChangeOut,
    LedgerEntryOut,
)
from heatdesk.billing.selectors.account import (
    account_summary,
    bills_of_houses,
    heating_changes_of_house,
    ledger_entries,
)
from heatdesk.billing.services.heating_changes import heating_change_apply
from heatdesk.core import clock
from heatdesk.core.errors import NotFound
from heatdesk.estates.selectors import bindings_for_resident, house_get_for_resident

router = Router(tags=["billing"])
router.add_router("", staff_router)
router.add_router("", waivers_router)


@router.get("/bills", response={200: list[BillOut], **ERRORS}, summary="Bills of my houses")
def bills(request: HttpRequest, house_id: str | None = None) -> list[dict[str, Any]]:
    """Every bill of the caller's bound houses (or of `house_id` only), newest season first,
    with what settles it today: the late fee as of today (derived until it is fixed into a
    line) and the early-payment discount if paid in full today. Errors: `house_not_found`
    (404) for a `house_id` that is not bound to the caller."""
    user = resident_ready(request)
    if house_id:
        houses = [house_get_for_resident(resident=user, house_id=house_id)]
    else:
        houses = [binding.house for binding in bindings_for_resident(user=user)]
    today = clock.local_today()
    return [presenters.bill_out(bill, as_of=today) for bill in bills_of_houses(houses=houses)]


@router.get(
    "/houses/{house_id}/bills/{bill_id}",
    response={200: BillDetailOut, **ERRORS},
    summary="One bill with its lines",
)
def bill_detail(request: HttpRequest, house_id: str, bill_id: str) -> dict[str, Any]:
    """A bill with every line explained, plus the late fee or discount as of today that is not
    on the bill yet. Errors: `house_not_found` (404), `bill_not_found` (404, also for a bill
    of another house)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    bill = bills_of_houses(houses=[house]).filter(public_id=bill_id).first()
    if bill is None:
        raise NotFound("未找到该账单。", code="bill_not_found")
    return presenters.bill_detail_out(bill, as_of=clock.local_today())


@router.get(
    "/houses/{house_id}/account", response={200: AccountOut, **ERRORS}, summary="What I owe"
)
def account(request: HttpRequest, house_id: str) -> dict[str, Any]:
    """The house's account as of today: what it owes (the ledger's sum), its credit, what
    settles everything today with late fees, and the arrears from seasons that have ended,
    bill by bill. Errors: `house_not_found` (404)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    summary = account_summary(house=house, as_of=clock.local_today())
    return presenters.account_out(summary, house_id=house.public_id)


@router.get(
    "/houses/{house_id}/ledger",
    response={200: list[LedgerEntryOut], **ERRORS},
    summary="The house's account ledger",
)
def ledger(request: HttpRequest, house_id: str) -> list[dict[str, Any]]:
    """Every charge, payment, refund, adjustment and credit in the order posted, with the
    balance after each; the last balance is what the house owes. Errors: `house_not_found`
    (404)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    return presenters.ledger_out(list(ledger_entries(house=house)))


@router.get(
    "/houses/{house_id}/heating-changes",
    response={200: list[HeatingChangeOut], **ERRORS},
    summary="My stop/resume applications",
)
def heating_changes(request: HttpRequest, house_id: str) -> list[dict[str, Any]]:
    """报停/复供 applications of the house and their status, newest first. Errors:
    `house_not_found` (404)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    return [presenters.heating_change_out(c) for c in heating_changes_of_house(house=house)]


@router.post(
    "/houses/{house_id}/heating-changes",
    response={201: HeatingChangeOut, **ERRORS},
    summary="Apply to stop or resume heating",
)
def heating_change_create(
    request: HttpRequest, house_id: str, payload: HeatingChangeIn
) -> Status[Any]:
    """Apply for 报停 (`stop`) or 复供 (`resume`) for a season, on or before its application
    deadline, with every earlier season paid. Errors: `house_not_found`, `season_not_found`
    (404); `apply_deadline_passed`, `arrears_outstanding`, `application_pending`,
    `heating_status_mismatch`, `house_disconnected`, `season_closed` (409);
    `validation_error` (422)."""
    user = resident_ready(request)
    house = house_get_for_resident(resident=user, house_id=house_id)
    season = HeatingSeason.objects.filter(code=payload.season).first()
    if season is None or season.status == HeatingSeason.Status.DRAFT:
        raise NotFound("未找到该采暖季。", code="season_not_found")
    change = heating_change_apply(
        resident=user,
        house=house,
        season=season,
        kind=payload.kind,
        requested_from=payload.requested_from,
        note=payload.note,
    )
    return Status(201, presenters.heating_change_out(change))
