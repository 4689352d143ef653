"""A house's bills, season by season, and one bill with every line explained.

Amounts come from the billing selectors (late fee as of today, arrears, what is paid); this
module only picks them and names them for people.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from heatdesk.accounts.models import User
from heatdesk.billing.models import Bill, BillLine
from heatdesk.billing.selectors import OPEN, bill_due_as_of
from heatdesk.billing.selectors.account import account_summary, arrears_before, bills_of_houses
from heatdesk.core import clock
from heatdesk.core.errors import NotFound
from heatdesk.estates.models import House
from heatdesk.estates.selectors import house_get_for_resident
from heatdesk.resident import labels
from heatdesk.resident.access import resident_required
from heatdesk.resident.views.pages import not_found


def house_of(user: User, house_id: str) -> House | None:
    """The resident's bound house, or None (the page then answers 404)."""
    try:
        return house_get_for_resident(resident=user, house_id=house_id)
    except NotFound:
        return None


def bill_row(bill: Bill, *, as_of: dt.date) -> dict[str, Any]:
    due = bill_due_as_of(bill=bill, as_of=as_of)
    payable = bill.status in OPEN and due.due_fen > 0
    return {
        "id": bill.public_id,
        "season": bill.season.code,
        "status": bill.status,
        "status_label": labels.label(labels.BILL_STATUS, bill.status),
        "total_fen": bill.total_fen,
        "paid_fen": bill.paid_fen,
        "outstanding_fen": due.outstanding_fen if bill.status != Bill.Status.VOID else 0,
        "late_fee_fen": due.late_fee_fen,
        "late_fee_fixed": due.late_fee_fixed,
        "early_discount_fen": due.early_discount.amount_fen if due.early_discount else 0,
        "due_fen": due.due_fen if payable else 0,
        "payable": payable,
        "payment_due_date": bill.season.payment_due_date,
        "due": due,
    }


def _line(kind: str, explanation: str, amount_fen: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "kind_label": labels.label(labels.BILL_LINE_KIND, kind),
        "explanation": explanation,
        "amount_fen": amount_fen,
    }


@require_GET
@resident_required
def bill_list(request: HttpRequest, user: User, house_id: str) -> HttpResponse:
    house = house_of(user, house_id)
    if house is None:
        return not_found(request)
    today = clock.local_today()
    summary = account_summary(house=house, as_of=today)
    bills = [bill_row(bill, as_of=today) for bill in bills_of_houses(houses=[house])]
    context = {"house": house, "summary": summary, "bills": bills, "today": today}
    return render(request, "resident/bills.html", context)


@require_GET
@resident_required
def bill_detail(request: HttpRequest, user: User, house_id: str, bill_id: str) -> HttpResponse:
    house = house_of(user, house_id)
    bill = (
        bills_of_houses(houses=[house]).filter(public_id=bill_id).first()
        if house is not None
        else None
    )
    if house is None or bill is None:
        return not_found(request)
    today = clock.local_today()
    row = bill_row(bill, as_of=today)
    due = row["due"]
    lines = [
        _line(line.kind, line.explanation, line.amount_fen)
        for line in bill.lines.all()  # prefetched, in the order they were added
    ]
    derived = [
        _line(draft.kind, draft.explanation, draft.amount_fen)
        for draft in (due.late_fee, due.early_discount)
        if draft is not None
    ]
    context = {
        "house": house,
        "bill": row,
        "lines": lines,
        "derived": derived,
        "arrears_fen": arrears_before(house=house, season=bill.season, as_of=today),
        "today": today,
        "late_fee_kind": BillLine.Kind.LATE_FEE,
        "pay_url": reverse("resident:pay_bill", args=[house.public_id, bill.public_id]),
    }
    return render(request, "resident/bill.html", context)
