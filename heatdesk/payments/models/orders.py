from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from heatdesk.billing.models import Bill
from heatdesk.core.ids import new_public_id
from heatdesk.estates.models import House


def _order_public_id() -> str:
    return new_public_id("po")


class Provider(models.TextChoices):
    WECHATPAY = "wechatpay", "微信支付"
    ALIPAY = "alipay", "支付宝"
    COUNTER = "counter", "柜台"


class Channel(models.TextChoices):
    WECHAT_JSAPI = "wechat_jsapi", "微信支付（小程序/公众号）"
    WECHAT_NATIVE = "wechat_native", "微信支付（扫码）"
    ALIPAY_WAP = "alipay_wap", "支付宝（手机网页）"
    ALIPAY_PRECREATE = "alipay_precreate", "支付宝（扫码）"
    CASH = "cash", "现金"
    POS = "pos", "银行卡（POS）"
    TRANSFER = "transfer", "银行转账"


CHANNEL_PROVIDER: dict[str, str] = {
    Channel.WECHAT_JSAPI: Provider.WECHATPAY,
    Channel.WECHAT_NATIVE: Provider.WECHATPAY,
    Channel.ALIPAY_WAP: Provider.ALIPAY,
    Channel.ALIPAY_PRECREATE: Provider.ALIPAY,
    Channel.CASH: Provider.COUNTER,
    Channel.POS: Provider.COUNTER,
    Channel.TRANSFER: Provider.COUNTER,
}
ONLINE_CHANNELS = frozenset(c for c, p in CHANNEL_PROVIDER.items() if p != Provider.COUNTER)
COUNTER_CHANNELS = frozenset(c for c, p in CHANNEL_PROVIDER.items() if p == Provider.COUNTER)


class PaymentOrder(models.Model):
    """支付订单: one attempt to collect a server-computed amount for one or more bills.

    `out_trade_no` is minted and committed before any provider call, and the exact request body
    sent under it is kept in `provider_request` so a retry replays it byte for byte. Status moves
    only forward (see TRANSITIONS) by compare-and-set; provider truth wins: a confirmed payment
    may lift CLOSED/FAILED to PAID (with an alert), nothing moves PAID back. Counter payments are
    orders too (channel cash/POS/transfer, PAID at once, with a shift and a receipt number), so
    refunds and reconciliation treat every payment alike.
    """

    class Status(models.TextChoices):
        CREATED = "created", "待支付"  # saved, provider not yet called
        PENDING = "pending", "支付中"  # prepay issued, waiting for the payer
        UNKNOWN = "unknown", "状态未知"  # a provider call's outcome is unknown (timeout, 5xx)
        PAID = "paid", "已支付"
        CLOSED = "closed", "已关闭"
        FAILED = "failed", "支付失败"
        VOIDED = "voided", "已作废"  # counter payments only, by a supervisor with a reason

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.CREATED: frozenset(
            {Status.PENDING, Status.UNKNOWN, Status.PAID, Status.CLOSED, Status.FAILED}
        ),
        Status.PENDING: frozenset({Status.UNKNOWN, Status.PAID, Status.CLOSED, Status.FAILED}),
        Status.UNKNOWN: frozenset({Status.PENDING, Status.PAID, Status.CLOSED, Status.FAILED}),
        Status.CLOSED: frozenset({Status.PAID}),
        Status.FAILED: frozenset({Status.PAID}),
        Status.PAID: frozenset({Status.VOIDED}),
        Status.VOIDED: frozenset(),
    }
    OPEN: ClassVar[frozenset[str]] = frozenset({Status.CREATED, Status.PENDING, Status.UNKNOWN})

    public_id = models.CharField(
        max_length=24, unique=True, default=_order_public_id, editable=False
    )
    out_trade_no = models.CharField("商户订单号", max_length=32, unique=True)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    amount_fen = models.BigIntegerField("金额（分）")
    description = models.CharField("商品描述", max_length=127)

    # Who pays: a resident online (payer) or a collector at the counter (collector + shift).
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_orders",
    )
    payer_openid = models.CharField(max_length=128, blank=True)  # WeChat JSAPI only
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="counter_orders",
    )
    shift = models.ForeignKey(
        "payments.CounterShift",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    receipt_no = models.CharField("收据号", max_length=32, blank=True)
    counter_reference = models.CharField("凭证号", max_length=64, blank=True)  # POS/transfer ref

    # Provider side: the exact body sent (replayed on retry), what it answered, its trade id.
    provider_request = models.TextField(blank=True)
    prepay = models.JSONField(default=dict, blank=True)  # prepay_id / code_url / wap url
    prepay_at = models.DateTimeField(null=True, blank=True)
    transaction_id = models.CharField("支付平台交易号", max_length=64, blank=True)
    paid_fen = models.BigIntegerField("实付（分）", null=True, blank=True)
    # Of paid_fen, what found no open bill (a bill paid twice) and became credit or a refund.
    excess_fen = models.BigIntegerField(default=0)

    expires_at = models.DateTimeField("支付截止", null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    void_reason = models.CharField(max_length=200, blank=True)
    failure = models.CharField("失败原因", max_length=200, blank=True)

    # Janitor bookkeeping: when to query the provider next and how often it was tried.
    next_check_at = models.DateTimeField(null=True, blank=True)
    check_attempts = models.PositiveSmallIntegerField(default=0)
    needs_attention = models.BooleanField("待人工处理", default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at"]
        permissions = [
            ("take_counter_payment", "收取柜台缴费、开结班次"),
            ("void_counter_payment", "作废柜台缴费（主管）"),
            ("request_refund", "申请退款"),
            ("approve_refund", "审批退款"),
            ("reconcile", "对账与处理差异"),
        ]
        constraints: ClassVar[list[Any]] = [
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0), name="payment_order_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(excess_fen__gte=0), name="payment_order_excess_nonneg"
            ),
            models.UniqueConstraint(
                fields=["provider", "transaction_id"],
                condition=~Q(transaction_id=""),
                name="payment_order_provider_txn_unique",
            ),
            models.UniqueConstraint(
                fields=["payer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="payment_order_idempotency_unique",
            ),
            models.UniqueConstraint(
                fields=["receipt_no"],
                condition=~Q(receipt_no=""),
                name="payment_order_receipt_unique",
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "next_check_at"], name="payment_order_janitor"),
            models.Index(fields=["payer", "-created_at"], name="payment_order_payer"),
        ]

    def __str__(self) -> str:
        return self.out_trade_no


class PaymentOrderItem(models.Model):
    """What an order pays for: a bill (with the amount due at creation, late fee included) or,
    with no bill, a house's whole outstanding amount. Settlement posts each house's share to
    the billing ledger with these as the explicit allocations."""

    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="items")
    house = models.ForeignKey(House, on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount_fen = models.BigIntegerField("金额（分）")
    late_fee_fen = models.BigIntegerField("其中滞纳金（分）", default=0)

    class Meta:
        constraints: ClassVar[list[Any]] = [
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0), name="payment_item_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["order", "bill"],
                condition=Q(bill__isnull=False),
                name="payment_item_bill_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount_fen}"
