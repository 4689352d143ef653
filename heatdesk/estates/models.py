from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.core.fields import EncryptedTextField
from heatdesk.core.ids import new_public_id


def _house_public_id() -> str:
    return new_public_id("hs")


def _binding_public_id() -> str:
    return new_public_id("hb")


class Community(models.Model):
    """小区."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    district = models.CharField(max_length=50, blank=True)
    address = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "小区"
        verbose_name_plural = "小区"

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    """楼栋."""

    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="buildings")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["community_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["community", "name"], name="building_name_unique")
        ]
        verbose_name = "楼栋"
        verbose_name_plural = "楼栋"

    def __str__(self) -> str:
        return f"{self.community.name}{self.name}"


class Unit(models.Model):
    """单元."""

    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="units")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["building_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["building", "name"], name="unit_name_unique")
        ]
        verbose_name = "单元"
        verbose_name_plural = "单元"

    def __str__(self) -> str:
        return f"{self.building}{self.name}"


class House(models.Model):
    """户: one heated home or premises, identified by its account number (户号)."""

    class UsageType(models.TextChoices):
        RESIDENTIAL = "residential", "居民"
        NON_RESIDENTIAL = "non_residential", "非居民"

    class UserType(models.TextChoices):
        NORMAL = "normal", "普通用户"
        LOW_INCOME = "low_income", "低保/困难户"

    class HeatingStatus(models.TextChoices):
        HEATING = "heating", "供热"
        STOPPED = "stopped", "报停"
        DISCONNECTED = "disconnected", "停供/拆网"

    public_id = models.CharField(
        max_length=24, unique=True, default=_house_public_id, editable=False
    )
    account_no = models.CharField("户号", max_length=32, unique=True)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="houses")
    floor = models.SmallIntegerField(null=True, blank=True)
    room = models.CharField(max_length=20)
    building_area = models.DecimalField("建筑面积", max_digits=10, decimal_places=2)
    heated_area = models.DecimalField("供热面积", max_digits=10, decimal_places=2)
    usage_type = models.CharField(
        max_length=20, choices=UsageType.choices, default=UsageType.RESIDENTIAL
    )
    user_type = models.CharField(max_length=20, choices=UserType.choices, default=UserType.NORMAL)
    heating_status = models.CharField(
        max_length=20, choices=HeatingStatus.choices, default=HeatingStatus.HEATING
    )
    meter_id = models.CharField("热表编号", max_length=40, blank=True)
    owner_name = EncryptedTextField("户主姓名", blank=True, default="")
    owner_phone = EncryptedTextField("户主电话", blank=True, default="")
    owner_phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_no"]
        constraints = [
            models.CheckConstraint(
                condition=Q(building_area__gte=Decimal(0)), name="house_building_area_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(heated_area__gte=Decimal(0)), name="house_heated_area_nonneg"
            ),
            models.UniqueConstraint(fields=["unit", "room"], name="house_room_unique"),
        ]
        permissions = [("import_houses", "Can import and export estates and houses")]
        verbose_name = "房屋"
        verbose_name_plural = "房屋"

    def __str__(self) -> str:
        return f"{self.account_no} {self.address}"

    @property
    def address(self) -> str:
        unit = self.unit
        building = unit.building
        return f"{building.community.name}{building.name}{unit.name}{self.room}室"


class HouseBinding(models.Model):
    """A resident's link to a house. Ended, never deleted, so history stays."""

    class Relation(models.TextChoices):
        OWNER = "owner", "户主"
        FAMILY = "family", "家庭成员"
        TENANT = "tenant", "租户"

    public_id = models.CharField(
        max_length=24, unique=True, default=_binding_public_id, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="house_bindings"
    )
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="bindings")
    relation = models.CharField(max_length=10, choices=Relation.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "house"], condition=Q(ended_at=None), name="binding_active_unique"
            ),
        ]
        permissions = [("manage_bindings", "Can bind and unbind houses for residents")]
        verbose_name = "房屋绑定"
        verbose_name_plural = "房屋绑定"

    def __str__(self) -> str:
        return f"{self.user} → {self.house.account_no}"
