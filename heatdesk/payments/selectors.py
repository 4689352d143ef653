"""Payment reads shared by the API and pages. A resident reaches an order only through the
houses bound to them: an order of another house answers `payment_order_not_found`."""

from django.db.models import Prefetch, QuerySet

from heatdesk.accounts.models import User
from heatdesk.billing.models import Bill
from heatdesk.core.errors import NotFound
from heatdesk.estates.selectors import bindings_for_resident
from heatdesk.payments.models import PaymentOrder, PaymentOrderItem


def _bound_house_ids(resident: User) -> list[int]:
    return [binding.house_id for binding in bindings_for_resident(user=resident)]


def orders_for_resident(*, resident: User) -> QuerySet[PaymentOrder]:
    """Orders touching any house bound to `resident` (whoever paid), newest first."""
    houses = _bound_house_ids(resident)
    ids = PaymentOrderItem.objects.filter(house_id__in=houses).values("order_id")
    return (
        PaymentOrder.objects.filter(pk__in=ids)
        .prefetch_related(
            Prefetch(
                "items",
                queryset=PaymentOrderItem.objects.select_related("house", "bill__season").order_by(
                    "id"
                ),
            )
        )
        .order_by("-created_at", "-id")
    )


def order_get_for_resident(*, resident: User, public_id: str) -> PaymentOrder:
    order = orders_for_resident(resident=resident).filter(public_id=public_id).first()
    if order is None:
        raise NotFound("未找到该支付订单。", code="payment_order_not_found")
    return order


def bills_get_for_resident(*, resident: User, public_ids: list[str]) -> list[Bill]:
    """The bills with these public ids, in the given order, if each belongs to a bound house."""
    houses = _bound_house_ids(resident)
    found = {
        bill.public_id: bill
        for bill in Bill.objects.filter(public_id__in=public_ids, house_id__in=houses)
    }
    missing = [pid for pid in public_ids if pid not in found]
    if missing:
        raise NotFound("未找到该账单。", code="bill_not_found", fields={"bill_ids": missing})
    return [found[pid] for pid in public_ids]
