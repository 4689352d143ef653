"""Tables for the ceilings: shaped like a bill row (read) and a payment row (insert)."""

from django.db import models


class ReadRow(models.Model):
    """Eight data columns, like a bill; seeded with 100k rows and read by primary key."""

    account_id = models.IntegerField()
    period = models.CharField(max_length=7)
    heat_gj = models.DecimalField(max_digits=10, decimal_places=3)
    amount_fen = models.BigIntegerField()
    status = models.SmallIntegerField()
    due_date = models.DateField()
    issued_at = models.DateTimeField()
    note = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"read row {self.pk}"


class WriteRow(models.Model):
    """A payment-like row with a unique external id; one is inserted per request."""

    ext_txn_id = models.CharField(max_length=64, unique=True)
    account_id = models.IntegerField()
    amount_fen = models.BigIntegerField()
    status = models.SmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.ext_txn_id
