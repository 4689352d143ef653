"""Choices shared by the billing models and the pure calculators (no database needed)."""

from django.db import models


class LateFeeKind(models.TextChoices):
    NONE = "none", "不收滞纳金"
    DAILY_RATE = "daily_rate", "按日计收"
    ONE_OFF = "one_off", "一次性按比例"


class Pricing(models.TextChoices):
    AREA = "area", "按面积计费"
    TWO_PART = "two_part", "两部制（基本热价+计量热价）"


class AreaBasis(models.TextChoices):
    BUILDING = "building", "建筑面积"
    HEATED = "heated", "供热面积"


class MeteredUnit(models.TextChoices):
    GJ = "GJ", "GJ"
    KWH = "kWh", "kWh"


class SettlementMode(models.TextChoices):
    REFUND_AND_TOPUP = "refund_and_topup", "多退少补"
    REFUND_ONLY = "refund_only", "多退少不补（封顶）"


class BillLineKind(models.TextChoices):
    AREA_FEE = "area_fee", "面积热费"
    BASIC_FEE = "basic_fee", "基本热费"
    METERED_FEE = "metered_fee", "计量热费"
    STOP_BASIC_FEE = "stop_basic_fee", "报停基本热费"
    SURCHARGE = "surcharge", "非居民加价"
    EARLY_DISCOUNT = "early_discount", "提前缴费优惠"
    RELIEF_SUBSIDY = "relief_subsidy", "低保减免"
    LATE_FEE = "late_fee", "滞纳金"
    LATE_FEE_WAIVER = "late_fee_waiver", "滞纳金减免"
    TEMPERATURE_REFUND = "temperature_refund", "室温不达标退费"
    ADJUSTMENT = "adjustment", "费用调整"
    PRIOR_ARREARS = "prior_arrears", "往年欠费"


CHARGE_KINDS: frozenset[str] = frozenset(
    {
        BillLineKind.AREA_FEE,
        BillLineKind.BASIC_FEE,
        BillLineKind.METERED_FEE,
        BillLineKind.STOP_BASIC_FEE,
        BillLineKind.SURCHARGE,
        BillLineKind.LATE_FEE,
        BillLineKind.PRIOR_ARREARS,
    }
)
CREDIT_KINDS: frozenset[str] = frozenset(
    {
        BillLineKind.EARLY_DISCOUNT,
        BillLineKind.RELIEF_SUBSIDY,
        BillLineKind.LATE_FEE_WAIVER,
        BillLineKind.TEMPERATURE_REFUND,
    }
)
# What the late fee and the early-payment discount are computed on: this season's heating
# charges and their corrections, not the late fee itself, a discount, or older arrears.
PRINCIPAL_KINDS: frozenset[str] = frozenset(
    {
        BillLineKind.AREA_FEE,
        BillLineKind.BASIC_FEE,
        BillLineKind.METERED_FEE,
        BillLineKind.STOP_BASIC_FEE,
        BillLineKind.SURCHARGE,
        BillLineKind.RELIEF_SUBSIDY,
        BillLineKind.TEMPERATURE_REFUND,
        BillLineKind.ADJUSTMENT,
    }
)
