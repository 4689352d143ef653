from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.billing.choices import AreaBasis, MeteredUnit, Pricing, SettlementMode
from heatdesk.billing.models.season import HeatingSeason
from heatdesk.estates.models import House


class Tariff(models.Model):
    """One version of the price for one season, usage type (居民/非居民) and user type.

    Versioned: once a bill uses a version (`in_use_since` set by the service that issues the
    bill, under a row lock) it is never edited again; a change is a new version, and new bills
    take the highest version.
    """

    season = models.ForeignKey(HeatingSeason, on_delete=models.PROTECT, related_name="tariffs")
    usage_type = models.CharField("用热性质", max_length=20, choices=House.UsageType.choices)
    user_type = models.CharField("用户类别", max_length=20, choices=House.UserType.choices)
    version = models.PositiveIntegerField("版本")

    pricing = models.CharField("计费方式", max_length=20, choices=Pricing.choices)
    area_basis = models.CharField(
        "计费面积", max_length=20, choices=AreaBasis.choices, default=AreaBasis.BUILDING
    )
    area_price = models.DecimalField("面积热价（元/㎡·采暖季）", max_digits=10, decimal_places=4)

    # Two-part tariffs: the basic part is either its own price per ㎡ or a ratio of the area
    # price (Beijing: 12 元/㎡ = 50% of 24; Xuchang: 30%), plus a metered price per GJ or kWh.
    basic_price = models.DecimalField(
        "基本热价（元/㎡）", max_digits=10, decimal_places=4, null=True, blank=True
    )
    basic_ratio = models.DecimalField(
        "基本热价占面积热价比例", max_digits=5, decimal_places=4, null=True, blank=True
    )
    metered_price = models.DecimalField(
        "计量热价（元/单位）", max_digits=10, decimal_places=4, null=True, blank=True
    )
    metered_unit = models.CharField(
        "计量单位", max_length=3, choices=MeteredUnit.choices, blank=True
    )
    settlement_mode = models.CharField(
        "计量结算方式",
        max_length=20,
        choices=SettlementMode.choices,
        default=SettlementMode.REFUND_AND_TOPUP,
    )
    # Refund-only: the most a house pays, as a ratio of its area fee (1.00 = never more than
    # the area fee; Tangshan's pilot: 1.15).
    settlement_cap_ratio = models.DecimalField(
        "结算封顶（占面积热费比例）", max_digits=5, decimal_places=4, null=True, blank=True
    )

    stop_basic_ratio = models.DecimalField(
        "报停基本热费比例", max_digits=5, decimal_places=4, default=Decimal("0.3000")
    )
    prorate_by_day = models.BooleanField("非整季按天折算", default=True)
    surcharge_ratio = models.DecimalField(
        "非居民加价比例", max_digits=5, decimal_places=4, default=Decimal(0)
    )
    relief_ratio = models.DecimalField(
        "低保减免比例", max_digits=5, decimal_places=4, default=Decimal(0)
    )
    relief_funding_source = models.CharField("减免资金来源", max_length=100, blank=True)

    note = models.CharField("说明（文件依据）", max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    in_use_since = models.DateTimeField("首次被账单使用", null=True, blank=True, editable=False)

    class Meta:
        ordering = ["season_id", "usage_type", "user_type", "-version"]
        verbose_name = "热价"
        verbose_name_plural = "热价"
        constraints = [
            models.UniqueConstraint(
                fields=["season", "usage_type", "user_type", "version"],
                name="tariff_version_unique",
                violation_error_message="该热价版本已存在。",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="tariff_version_positive",
                violation_error_message="版本号从1开始。",
            ),
            models.CheckConstraint(
                condition=Q(area_price__gte=Decimal(0)),
                name="tariff_area_price_nonneg",
                violation_error_message="面积热价不能为负数。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(pricing="area", basic_price__isnull=True, basic_ratio__isnull=True)
                    | Q(
                        pricing="two_part",
                        basic_price__isnull=False,
                        basic_price__gte=Decimal(0),
                        basic_ratio__isnull=True,
                    )
                    | Q(
                        pricing="two_part",
                        basic_price__isnull=True,
                        basic_ratio__isnull=False,
                        basic_ratio__gte=Decimal(0),
                        basic_ratio__lte=Decimal(1),
                    )
                ),
                name="tariff_basic_part_valid",
                violation_error_message="两部制须填写基本热价或基本热价比例（二选一，比例在0–100%%之间）；按面积计费不填。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(pricing="area", metered_price__isnull=True)
                    | Q(
                        pricing="two_part",
                        metered_price__isnull=False,
                        metered_price__gte=Decimal(0),
                        metered_unit__in=["GJ", "kWh"],
                    )
                ),
                name="tariff_metered_part_valid",
                violation_error_message="两部制须填写计量热价和计量单位；按面积计费不填计量热价。",
            ),
            models.CheckConstraint(
                condition=(
                    Q(settlement_mode="refund_and_topup", settlement_cap_ratio__isnull=True)
                    | Q(
                        settlement_mode="refund_only",
                        settlement_cap_ratio__isnull=False,
                        settlement_cap_ratio__gte=Decimal(1),
                    )
                ),
                name="tariff_settlement_valid",
                violation_error_message="多退少不补须填写不低于100%%的封顶比例；多退少补不填封顶比例。",
            ),
            models.CheckConstraint(
                condition=Q(stop_basic_ratio__gte=Decimal(0), stop_basic_ratio__lte=Decimal(1)),
                name="tariff_stop_ratio_range",
                violation_error_message="报停基本热费比例须在0–100%%之间。",
            ),
            models.CheckConstraint(
                condition=Q(surcharge_ratio=Decimal(0))
                | Q(usage_type="non_residential", surcharge_ratio__gt=Decimal(0)),
                name="tariff_surcharge_non_residential_only",
                violation_error_message="只有非居民热价可以设置加价比例。",
            ),
            models.CheckConstraint(
                condition=Q(relief_ratio=Decimal(0))
                | (
                    Q(
                        user_type="low_income",
                        relief_ratio__gt=Decimal(0),
                        relief_ratio__lte=Decimal(1),
                    )
                    & ~Q(relief_funding_source="")
                ),
                name="tariff_relief_valid",
                violation_error_message="只有低保/困难户热价可以设置减免比例（0–100%%之间），并须注明资金来源。",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.season.code} {self.get_usage_type_display()}/"
            f"{self.get_user_type_display()} v{self.version}"
        )
