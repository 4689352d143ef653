from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.billing.models.bill import Bill
from heatdesk.core.ids import new_public_id
from heatdesk.estates.models import House


def _entry_public_id() -> str:
    """Kept for migration 0003, which created a public id the ledger no longer has."""
    return new_public_id("le")


class AppendOnlyQuerySet(models.QuerySet[Any]):
    """Refuses bulk changes, which never call a model's save() or delete()."""

    def update(self, **kwargs: Any) -> int:
        raise RuntimeError("ledger rows are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise RuntimeError("ledger rows are append-only")


class AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("ledger rows are append-only: post a new entry instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("ledger rows are append-only: post a new entry instead")


class LedgerEntry(AppendOnly):
    """户账: one signed amount on a house's account; their sum is what the house owes.

    Positive amounts raise what the house owes (a bill issued, a late fee fixed, a refund paid
    out), negative ones lower it (a payment, a discount, a correction in the house's favour). A
    bill's entries always sum to its `total_fen`, and to zero once it is void. Posted only by
    `billing.services.ledger`, in the transaction that makes the change; never edited.
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", "应收"
        ADJUSTMENT = "adjustment", "调整"
        CREDIT = "credit", "减免/退费"
        PAYMENT = "payment", "缴费"
        REFUND = "refund", "退款"

    # Looked up by (house, id) — see Meta.indexes — so the foreign key needs no index of its own.
    house = models.ForeignKey(
        House, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount_fen = models.BigIntegerField("金额（分）")
    explanation = models.CharField("说明", max_length=300)
    # Where money came from or went: a payment channel and its transaction id. The pair is
    # unique, which makes posting the same payment twice a no-op.
    source = models.CharField("来源", max_length=20, blank=True)
    source_id = models.CharField("来源单号", max_length=64, blank=True)
    occurred_at = models.DateTimeField("发生时间")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,  # as on bills: users are never deleted
    )
    # A refund or void that takes (part of) a payment back points at the payment it reverses,
    # so what each payment has left is the payment less its reversals. Indexed only where set
    # (see Meta.indexes): every lookup is `payment.reversals`, by a payment's id, and the
    # charges a billing run writes by the million leave it empty.
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversals",
        verbose_name="冲回的缴费",
        db_index=False,
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["house_id", "id"]
        verbose_name = "户账流水"
        verbose_name_plural = "户账流水"
        indexes = [
            models.Index(fields=["house", "id"], name="ledger_house_idx"),
            # Money in and out, per house: what account credit is computed from. Partial, so
            # the charges a billing run posts by the million do not maintain it.
            models.Index(
                fields=["house"],
                condition=Q(kind__in=["payment", "refund"]),
                name="ledger_money_house_idx",
            ),
            models.Index(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_reverses_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=~Q(source_id=""),
                name="ledger_source_unique",
                violation_error_message="该来源单号已入账。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="payment", amount_fen__lt=0)
                    | Q(kind="refund", amount_fen__gt=0)
                    | Q(kind="charge", amount_fen__gte=0)
                    | Q(kind="credit", amount_fen__lte=0)
                    | Q(kind="adjustment")
                ),
                name="ledger_sign_by_kind",
                violation_error_message="流水金额的正负与类型不符。",
            ),
            models.CheckConstraint(
                condition=(
                    (Q(kind__in=["payment", "refund"]) & ~Q(source="") & ~Q(source_id=""))
                    | Q(kind__in=["charge", "adjustment", "credit"], bill__isnull=False)
                ),
                name="ledger_money_has_source_bill_entry_has_bill",
                violation_error_message="缴费和退款须有来源单号；账单流水须关联账单。",
            ),
            models.CheckConstraint(
                condition=~Q(explanation=""),
                name="ledger_explained",
                violation_error_message="每条流水都须有说明。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_fen}"


class Allocation(AppendOnly):
    """Money on a house's account put against one bill (positive) or taken back from it
    (negative, when a correction leaves the bill overpaid: the excess becomes account credit).

    A bill's allocations always sum to its `paid_fen`; a house's unallocated money (payments
    less refunds less allocations) is its account credit. `entry` is the posting that caused the
    allocation: the payment, or the bill change that freed or used credit.
    """

    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="allocations")
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations")
    amount_fen = models.BigIntegerField("金额（分）")
    occurred_at = models.DateTimeField("计入时间")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["bill_id", "id"]
        verbose_name = "缴费分配"
        verbose_name_plural = "缴费分配"
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount_fen=0),
                name="allocation_nonzero",
                violation_error_message="分配金额不能为零。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id}: {self.amount_fen}"
