"""Shaping billing objects for the API (plain dicts matching `schemas`)."""

import datetime as dt
from typing import Any

from heatdesk.billing.models import (
    Bill,
    BillingRun,
    BillLine,
    HeatingChange,
    HeatingSeason,
    LateFeeWaiver,
    LedgerEntry,
    Tariff,
)
from heatdesk.billing.selectors import BillDue, bill_due_as_of
from heatdesk.billing.selectors.account import AccountSummary
from heatdesk.billing.selectors.runs import run_anomalies, run_totals
from heatdesk.billing.services.common import SEASON_FIELDS, TARIFF_TERMS


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def bill_out(bill: Bill, *, as_of: dt.date, due: BillDue | None = None) -> dict[str, Any]:
    due = due or bill_due_as_of(bill=bill, as_of=as_of)
    return {
        "id": bill.public_id,
        "house_id": bill.house.public_id,
        "account_no": bill.house.account_no,
        "season": bill.season.code,
        "status": bill.status,
        "status_label": bill.get_status_display(),
        "total_fen": bill.total_fen,
        "paid_fen": bill.paid_fen,
        "outstanding_fen": bill.total_fen - bill.paid_fen,
        "as_of": as_of,
        "late_fee_fen": due.late_fee_fen,
        "late_fee_fixed": due.late_fee_fixed,
        "heat_cut_off_on": bill.heat_cut_off_on,
        "early_discount_fen": due.early_discount.amount_fen if due.early_discount else 0,
        "due_today_fen": due.due_fen if bill.status != Bill.Status.VOID else 0,
        "payment_due_date": bill.season.payment_due_date,
        "issued_at": _iso(bill.issued_at),
    }


def line_out(line: BillLine) -> dict[str, Any]:
    return {
        "kind": line.kind,
        "kind_label": line.get_kind_display(),
        "explanation": line.explanation,
        "amount_fen": line.amount_fen,
        "quantity": line.quantity,
        "unit": line.unit,
        "unit_price": line.unit_price,
        "ratio": line.ratio,
        "period_from": line.period_from,
        "period_to": line.period_to,
        "reason": line.reason,
        "created_at": line.created_at.isoformat(),
    }


def bill_detail_out(bill: Bill, *, as_of: dt.date) -> dict[str, Any]:
    due = bill_due_as_of(bill=bill, as_of=as_of)
    derived = [
        {
            "kind": line.kind,
            "kind_label": str(BillLine.Kind(line.kind).label),
            "explanation": line.explanation,
            "amount_fen": line.amount_fen,
        }
        for line in (due.late_fee, due.early_discount)
        if line is not None
    ]
    return {
        **bill_out(bill, as_of=as_of, due=due),
        "lines": [line_out(line) for line in bill.lines.all()],
        "derived": derived,
    }


def account_out(summary: AccountSummary, *, house_id: str) -> dict[str, Any]:
    return {
        "house_id": house_id,
        "as_of": summary.as_of,
        "owed_fen": summary.owed_fen,
        "credit_fen": summary.credit_fen,
        "due_fen": summary.due_fen,
        "arrears_fen": summary.arrears_fen,
        "bills": [
            {
                "season": row.season.code,
                "bill_id": row.bill.public_id,
                "status": row.bill.status,
                "outstanding_fen": row.due.outstanding_fen,
                "late_fee_fen": row.due.late_fee_fen,
                "due_fen": row.due.due_fen,
                "arrears": row.arrears,
            }
            for row in summary.bills
        ],
    }


def ledger_out(entries: list[LedgerEntry]) -> list[dict[str, Any]]:
    balance = 0
    shown = []
    for entry in entries:
        balance += entry.amount_fen
        shown.append(
            {
                "kind": entry.kind,
                "kind_label": entry.get_kind_display(),
                "amount_fen": entry.amount_fen,
                "balance_fen": balance,
                "explanation": entry.explanation,
                "bill_id": entry.bill.public_id if entry.bill else None,
                "season": entry.bill.season.code if entry.bill else None,
                "occurred_at": entry.occurred_at.isoformat(),
            }
        )
    return shown


def heating_change_out(change: HeatingChange) -> dict[str, Any]:
    return {
        "id": change.public_id,
        "house_id": change.house.public_id,
        "account_no": change.house.account_no,
        "season": change.season.code,
        "kind": change.kind,
        "kind_label": change.get_kind_display(),
        "status": change.status,
        "status_label": change.get_status_display(),
        "requested_from": change.requested_from,
        "effective_from": change.effective_from,
        "note": change.note,
        "decision_reason": change.decision_reason,
        "applied_at": change.applied_at.isoformat(),
        "decided_at": _iso(change.decided_at),
    }


def season_out(season: HeatingSeason) -> dict[str, Any]:
    return {
        **{name: getattr(season, name) for name in SEASON_FIELDS},
        "status": season.status,
        "status_label": season.get_status_display(),
        "days": season.days,
    }


def tariff_out(tariff: Tariff) -> dict[str, Any]:
    return {
        **{name: getattr(tariff, name) for name in TARIFF_TERMS},
        "id": tariff.pk,
        "season": tariff.season.code,
        "usage_type": tariff.usage_type,
        "user_type": tariff.user_type,
        "version": tariff.version,
        "in_use": tariff.in_use_since is not None,
    }


def _tally(run: BillingRun, tally: dict[str, Any]) -> dict[str, Any]:
    return {
        "counts": tally.get("counts", {}),
        "totals": run_totals(run=run, tally=tally),
        "anomalies": run_anomalies(run=run, tally=tally),
    }


def run_out(run: BillingRun) -> dict[str, Any]:
    committed = run.phase == BillingRun.Phase.COMMIT
    return {
        "id": run.public_id,
        "season": run.season.code,
        "status": run.status,
        "status_label": run.get_status_display(),
        "phase": run.phase,
        "batch_size": run.batch_size,
        "total": run.total,
        "processed": run.processed,
        "progress_percent": run.progress_percent,
        "preview": _tally(run, run.preview),
        "result": _tally(run, run.result) if committed else None,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "previewed_at": _iso(run.previewed_at),
        "commit_started_at": _iso(run.commit_started_at),
        "finished_at": _iso(run.finished_at),
        "heartbeat_at": _iso(run.heartbeat_at),
    }


def late_fee_waiver_out(waiver: LateFeeWaiver) -> dict[str, Any]:
    bill = waiver.bill
    return {
        "id": waiver.public_id,
        "bill_id": bill.public_id,
        "account_no": bill.house.account_no,
        "season": bill.season.code,
        "amount_fen": waiver.amount_fen,
        "reason": waiver.reason,
        "status": waiver.status,
        "status_label": waiver.get_status_display(),
        "requested_by": waiver.requested_by_id,
        "requested_at": waiver.requested_at.isoformat(),
        "decided_by": waiver.decided_by_id,
        "decided_at": _iso(waiver.decided_at),
        "decision_note": waiver.decision_note,
        "line": line_out(waiver.line) if waiver.line is not None else None,
    }
