from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from heatdesk.billing.choices import MeteredUnit
from heatdesk.billing.models.bill import Bill
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.estates.models import House


class MeterReading(models.Model):
    """热表读数: one house's heat meter at the start and the end of a season, imported from a
    file. A two-part bill is settled on it after the season (`settled_at`), once."""

    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="meter_readings")
    season = models.ForeignKey(
        HeatingSeason, on_delete=models.PROTECT, related_name="meter_readings"
    )
    meter_id = models.CharField("热表编号", max_length=40, blank=True)
    start_reading = models.DecimalField("起始读数", max_digits=14, decimal_places=3)
    end_reading = models.DecimalField("结束读数", max_digits=14, decimal_places=3)
    quantity = models.DecimalField("用热量", max_digits=14, decimal_places=3)
    unit = models.CharField("单位", max_length=3, choices=MeteredUnit.choices)
    read_on = models.DateField("抄表日期")
    import_ref = models.CharField("导入批次", max_length=64)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settled_at = models.DateTimeField("结算时间", null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settled_bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["season_id", "house_id"]
        permissions = [
            ("import_meter_readings", "Can import heat meter readings"),
            ("settle_metered", "Can settle two-part bills on meter readings"),
        ]
        verbose_name = "热表读数"
        verbose_name_plural = "热表读数"
        constraints = [
            models.UniqueConstraint(
                fields=["house", "season"],
                name="meter_reading_one_per_house_season",
                violation_error_message="该户本采暖季已有热表读数。",
            ),
            models.CheckConstraint(
                condition=Q(start_reading__gte=Decimal(0), end_reading__gte=F("start_reading")),
                name="meter_reading_ordered",
                violation_error_message="结束读数不能小于起始读数。",
            ),
            models.CheckConstraint(
                condition=Q(quantity=F("end_reading") - F("start_reading")),
                name="meter_reading_quantity_is_difference",
                violation_error_message="用热量须等于结束读数减起始读数。",
            ),
            models.CheckConstraint(
                condition=Q(settled_at__isnull=True) | Q(settled_bill__isnull=False),
                name="meter_reading_settlement_has_bill",
                violation_error_message="已结算的读数须关联账单。",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.season.code} {self.house.account_no} {self.quantity}{self.unit}"
