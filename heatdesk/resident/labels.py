"""Names shown to residents for the domain's choice values, in either language."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from heatdesk.estates.models import House, HouseBinding

HEATING_STATUS: dict[str, Promise] = {
    House.HeatingStatus.HEATING: _("正常供热"),
    House.HeatingStatus.STOPPED: _("已报停"),
    House.HeatingStatus.DISCONNECTED: _("停供/拆网"),
}

RELATION: dict[str, Promise] = {
    HouseBinding.Relation.OWNER: _("户主本人"),
    HouseBinding.Relation.FAMILY: _("家庭成员"),
    HouseBinding.Relation.TENANT: _("租户"),
}

USAGE_TYPE: dict[str, Promise] = {
    House.UsageType.RESIDENTIAL: _("居民"),
    House.UsageType.NON_RESIDENTIAL: _("非居民"),
}


def label(table: dict[str, Promise], value: str) -> str:
    return str(table.get(value, value))
