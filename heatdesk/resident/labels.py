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


BILL_STATUS: dict[str, Promise] = {
    "draft": _("草稿"),
    "issued": _("待缴费"),
    "partially_paid": _("部分缴费"),
    "paid": _("已缴清"),
    "void": _("已作废"),
}

BILL_LINE_KIND: dict[str, Promise] = {
    "area_fee": _("面积热费"),
    "basic_fee": _("基本热费"),
    "metered_fee": _("计量热费"),
    "stop_basic_fee": _("报停基本热费"),
    "surcharge": _("非居民加价"),
    "early_discount": _("提前缴费优惠"),
    "relief_subsidy": _("低保减免"),
    "late_fee": _("滞纳金"),
    "late_fee_waiver": _("滞纳金减免"),
    "temperature_refund": _("室温不达标退费"),
    "adjustment": _("费用调整"),
    "prior_arrears": _("往年欠费"),
}

HEATING_CHANGE_KIND: dict[str, Promise] = {"stop": _("报停"), "resume": _("复供")}

HEATING_CHANGE_STATUS: dict[str, Promise] = {
    "pending": _("待审核"),
    "approved": _("已批准"),
    "rejected": _("已驳回"),
}

BOOKING_STATUS: dict[str, Promise] = {
    "held": _("保留中"),
    "pending": _("待审核"),
    "confirmed": _("已确认"),
    "completed": _("已完成"),
    "no_show": _("未到场"),
    "cancelled": _("已取消"),
    "expired": _("已失效"),
}

BOOKING_EVENT: dict[str, Promise] = {
    "created": _("提交预约"),
    "status": _("状态变更"),
    "rescheduled": _("改约"),
    "assigned": _("指派维修员"),
    "reminded": _("已提醒"),
}

SERVICE_KIND: dict[str, Promise] = {"visit": _("上门服务"), "counter": _("营业厅办理")}

ORDER_STATUS: dict[str, Promise] = {
    "created": _("待支付"),
    "pending": _("支付中"),
    "unknown": _("确认中"),
    "paid": _("已支付"),
    "closed": _("已关闭"),
    "failed": _("支付失败"),
    "voided": _("已作废"),
}

ORDER_CHANNEL: dict[str, Promise] = {
    "wechat_jsapi": _("微信支付"),
    "wechat_native": _("微信支付"),
    "alipay_wap": _("支付宝"),
    "alipay_precreate": _("支付宝"),
    "cash": _("现金"),
    "pos": _("银行卡（POS）"),
    "transfer": _("银行转账"),
}
