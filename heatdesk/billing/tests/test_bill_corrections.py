"""Issued bills are documents: edits refused, corrections as audited lines, void and reissue,
and the amounts derived as of a date (late fee, early discount)."""

import datetime as dt
from decimal import Decimal as D

import pytest

from heatdesk.audit.models import AuditEntry
from heatdesk.billing import selectors, services
from heatdesk.billing.calculation import Payment
from heatdesk.billing.models import Bill, BillLine
from heatdesk.billing.tests.factories import bill_state, lines_of, make_season, make_tariff
from heatdesk.core.errors import Conflict, ValidationFailed

pytestmark = pytest.mark.django_db


# --- Issued bills are documents ---------------------------------------------------------------


def test_an_issued_bill_refuses_edits(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    before = bill_state(bill)
    line = BillLine.objects.get(bill=bill)
    # when / then: neither the bill nor its lines can be rewritten or removed
    bill.area = D("50.00")
    with pytest.raises(RuntimeError):
        bill.save()
    line.amount_fen = 1
    with pytest.raises(RuntimeError):
        line.save()
    with pytest.raises(RuntimeError):
        line.delete()
    with pytest.raises(RuntimeError):
        bill.delete()
    assert bill_state(bill) == before


def test_an_adjustment_is_a_new_line_with_an_audit_row(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    line = services.bill_adjust(
        bill=bill, amount_fen=-5000, reason="实测建筑面积 87.50㎡，核减 2.00㎡", by=finance
    )
    # then
    assert lines_of(bill) == [("area_fee", 223750), ("adjustment", -5000)]
    row = BillLine.objects.get(pk=line.pk)
    assert (row.explanation, row.reason, row.created_by) == (
        "费用调整 -50.00元：实测建筑面积 87.50㎡，核减 2.00㎡",
        "实测建筑面积 87.50㎡，核减 2.00㎡",
        finance,
    )
    assert Bill.objects.get(pk=bill.pk).total_fen == 218750
    assert bill.total_fen == 218750  # the caller's copy is refreshed
    entry = AuditEntry.objects.get(action="billing.bill_adjust")
    assert (entry.actor, entry.object_id, entry.reason) == (
        finance,
        str(bill.pk),
        "实测建筑面积 87.50㎡，核减 2.00㎡",
    )
    assert entry.before == {"total_fen": 223750, "status": "issued"}
    assert entry.after == {"total_fen": 218750, "status": "issued", "line_id": line.pk}


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        (0, "无", "amount_fen"),
        (12.5, "小数", "amount_fen"),
        (True, "布尔", "amount_fen"),
        (D("100"), "Decimal", "amount_fen"),
        (100_000_001, "过大", "amount_fen"),
        (500, "  ", "reason"),
        (500, "长" * 201, "reason"),
    ],
)
def test_bad_adjustments_are_refused_and_change_nothing(
    season, tariff, house_a, finance, amount, reason, field
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    before = bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        services.bill_adjust(bill=bill, amount_fen=amount, reason=reason, by=finance)
    assert field in refused.value.fields
    assert bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


def test_a_void_bill_takes_no_adjustment(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    services.bill_void(bill=bill, reason="重开", by=finance)
    before = bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        services.bill_adjust(bill=bill, amount_fen=1000, reason="测试", by=finance)
    assert refused.value.code == "bill_not_adjustable"
    assert bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


def test_void_then_reissue(season, tariff, house_a, finance):
    first = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # when
    services.bill_void(bill=first, reason="户号录入错误", by=finance)
    second = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # then
    voided = Bill.objects.get(pk=first.pk)
    assert (voided.status, voided.void_reason, voided.voided_by) == (
        "void",
        "户号录入错误",
        finance,
    )
    assert voided.voided_at is not None
    assert second.pk != first.pk
    assert Bill.objects.get(pk=second.pk).status == "issued"
    assert [b.pk for b in selectors.bills_for_house(house=house_a)] == [second.pk, first.pk]
    entry = AuditEntry.objects.get(action="billing.bill_void")
    assert (entry.before, entry.after, entry.reason) == (
        {"status": "issued"},
        {"status": "void"},
        "户号录入错误",
    )


@pytest.mark.parametrize("status", ["partially_paid", "paid", "void"])
def test_a_bill_with_payments_or_already_void_cannot_be_voided(
    season, tariff, house_a, finance, status
):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    Bill.objects.filter(pk=bill.pk).update(status=status, voided_at=bill.issued_at)
    before = bill_state(bill)
    audit_rows = AuditEntry.objects.count()
    with pytest.raises(Conflict) as refused:
        services.bill_void(bill=bill, reason="测试", by=finance)
    assert refused.value.code == "bill_transition_invalid"
    assert bill_state(bill) == before
    assert AuditEntry.objects.count() == audit_rows


def test_void_needs_a_reason(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    with pytest.raises(ValidationFailed):
        services.bill_void(bill=bill, reason=" ", by=finance)
    assert Bill.objects.get(pk=bill.pk).status == "issued"


# --- Derived amounts: late fee and early discount -------------------------------------------------


def test_the_late_fee_is_derived_as_of_a_date_and_never_stored(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    services.bill_adjust(bill=bill, amount_fen=-5000, reason="面积核减", by=finance)
    before = bill_state(bill)
    # when: principal 223,750 − 5,000 = 218,750; 10 days × 2‰ = 4,375 分
    ten_days = selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2027, 1, 10))
    on_time = selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2026, 12, 31))
    part_paid = selectors.bill_late_fee_as_of(
        bill=bill,
        as_of=dt.date(2027, 1, 10),
        payments=[Payment(paid_on=dt.date(2026, 12, 1), amount_fen=118750)],
    )
    cut_off = selectors.bill_late_fee_as_of(
        bill=bill, as_of=dt.date(2027, 6, 1), heat_cut_off_on=dt.date(2027, 1, 6)
    )
    # then
    assert (ten_days.kind, ten_days.amount_fen) == ("late_fee", 4375)
    assert on_time is None
    assert part_paid.amount_fen == 2000  # 100,000 unpaid × 2‰ × 10
    assert cut_off.amount_fen == 2188  # 218,750 × 2‰ × 5 = 2,187.5 → 2,188
    assert bill_state(bill) == before


def test_a_void_bill_accrues_no_late_fee_and_gets_no_discount(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    services.bill_void(bill=bill, reason="重开", by=finance)
    assert selectors.bill_late_fee_as_of(bill=bill, as_of=dt.date(2027, 6, 1)) is None
    assert selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 9, 2)) is None


def test_the_early_discount_as_of_a_payment_date(season, tariff, house_a, finance):
    bill = services.bill_issue(house=house_a, season=season, issued_by=finance)
    # 223,750 × 3% = 6,712.5 → 6,713 分 off until 31 Oct
    early = selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 10, 31))
    late = selectors.bill_early_discount_as_of(bill=bill, paid_on=dt.date(2026, 11, 1))
    assert (early.kind, early.amount_fen) == ("early_discount", -6713)
    assert late is None
    assert lines_of(bill) == [("area_fee", 223750)]


def test_bills_for_a_house_newest_season_first(tariff, house_a, house_b, finance):
    older = make_season(code="2025-2026", **_dates(2025))
    make_tariff(older, area_price=D("24.00"))
    newer = tariff.season
    old_bill = services.bill_issue(house=house_a, season=older, issued_by=finance)
    new_bill = services.bill_issue(house=house_a, season=newer, issued_by=finance)
    services.bill_issue(house=house_b, season=newer, issued_by=finance)
    assert [b.pk for b in selectors.bills_for_house(house=house_a)] == [new_bill.pk, old_bill.pk]
    assert Bill.objects.get(pk=old_bill.pk).total_fen == 214800


def _dates(year: int) -> dict:
    return {
        "heating_start": dt.date(year, 11, 15),
        "heating_end": dt.date(year + 1, 3, 15),
        "bill_issue_date": dt.date(year, 9, 1),
        "payment_due_date": dt.date(year, 12, 31),
        "stop_apply_deadline": dt.date(year, 10, 15),
        "early_discount_last_day": dt.date(year, 10, 31),
        "late_fee_start_date": dt.date(year + 1, 1, 1),
    }
