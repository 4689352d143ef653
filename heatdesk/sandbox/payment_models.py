"""The simulated payment providers' own records (sandbox only, never HeatDesk's books)."""

from django.db import models


class Provider(models.TextChoices):
    WECHATPAY = "wechatpay", "微信支付"
    ALIPAY = "alipay", "支付宝"


class SandboxPaymentOrder(models.Model):
    """An order as the simulated provider holds it (a WeChat transaction, an Alipay trade)."""

    class State(models.TextChoices):
        PENDING = "pending", "待支付"
        PAID = "paid", "已支付"
        CLOSED = "closed", "已关闭"

    class Kind(models.TextChoices):
        JSAPI = "jsapi", "JSAPI/小程序"
        NATIVE = "native", "Native 扫码"
        PRECREATE = "precreate", "当面付扫码"
        WAP = "wap", "手机网站"

    public_id = models.CharField(max_length=40, unique=True)
    provider = models.CharField(max_length=10, choices=Provider.choices)
    merchant_id = models.CharField(max_length=40)  # WeChat mchid, Alipay app_id
    appid = models.CharField(max_length=40, blank=True)
    out_trade_no = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The first create request's parameters: a re-entry must repeat them exactly.
    request_params = models.JSONField(default=dict)
    prepay_id = models.CharField(max_length=64, blank=True)
    prepay_expires_at = models.DateTimeField(null=True, blank=True)
    code_url = models.CharField(max_length=300, blank=True)
    description = models.CharField(max_length=256)
    attach = models.CharField(max_length=128, blank=True)
    total_fen = models.PositiveBigIntegerField()
    payer_id = models.CharField(max_length=64, blank=True)  # openid / buyer_id
    notify_url = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Alipay precreate: the trade exists for queries only once the QR code was scanned.
    visible = models.BooleanField(default=True)
    last_outcome = models.CharField(max_length=20, blank=True)
    transaction_id = models.CharField(max_length=64, blank=True)
    time_expire = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "merchant_id", "out_trade_no"], name="sandbox_order_unique_no"
            ),
            models.CheckConstraint(
                condition=models.Q(total_fen__gte=1), name="sandbox_order_total_positive"
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.out_trade_no}"


class SandboxPaymentRefund(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "PROCESSING", "退款处理中"
        SUCCESS = "SUCCESS", "退款成功"
        CLOSED = "CLOSED", "退款关闭"
        ABNORMAL = "ABNORMAL", "退款异常"

    order = models.ForeignKey(SandboxPaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    merchant_id = models.CharField(max_length=40)
    out_refund_no = models.CharField(max_length=64)  # WeChat out_refund_no, Alipay out_request_no
    refund_id = models.CharField(max_length=64, unique=True)
    amount_fen = models.PositiveBigIntegerField()
    request_params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROCESSING)
    reason = models.CharField(max_length=80, blank=True)
    notify_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "merchant_id", "out_refund_no"], name="sandbox_refund_unique_no"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_fen__gte=1), name="sandbox_refund_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.out_refund_no}"


class SandboxNotifyDelivery(models.Model):
    """One notification the simulator owes the merchant, with its retry state."""

    class State(models.TextChoices):
        PENDING = "pending", "待投递"
        HELD = "held", "压后（乱序）"
        DELIVERED = "delivered", "已送达"
        DROPPED = "dropped", "已丢弃"
        FAILED = "failed", "放弃重试"

    provider = models.CharField(max_length=10, choices=Provider.choices)
    order = models.ForeignKey(
        SandboxPaymentOrder, on_delete=models.PROTECT, related_name="notifies"
    )
    refund = models.ForeignKey(
        SandboxPaymentRefund, null=True, blank=True, on_delete=models.PROTECT
    )
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    url = models.CharField(max_length=300)
    body = models.TextField()  # WeChat: the JSON envelope; Alipay: the signed form
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    copies = models.PositiveSmallIntegerField(default=1)  # duplicate knob: deliver this many
    delivered = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)
    last_answer = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_type}:{self.event_id}"


class SandboxBillFile(models.Model):
    """A generated bill file behind a download token (Alipay's URL lives 30 seconds)."""

    provider = models.CharField(max_length=10, choices=Provider.choices)
    token = models.CharField(max_length=64, unique=True)
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.provider}:{self.token}"


class SandboxPaymentKnob(models.Model):
    """Test knobs: `global`, `order:<out_trade_no>` or `refund:<out_refund_no>` scope."""

    scope = models.CharField(max_length=80, unique=True)
    values = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.scope
