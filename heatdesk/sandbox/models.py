from django.db import models


class SandboxSms(models.Model):
    """An SMS the sandbox provider 'delivered': shown in the sandbox inbox, never sent."""

    phone = models.CharField(max_length=20, db_index=True)
    text = models.TextField()
    template = models.CharField(max_length=40)
    message_id = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.phone}: {self.text}"


class SandboxWechatCode(models.Model):
    """A wx.login() code issued by the simulator; jscode2session exchanges it once for an openid."""

    code = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=40)
    openid = models.CharField(max_length=64)
    session_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.code


# The payment simulators' records live in their own module; importing them here registers them.
from heatdesk.sandbox.payment_models import (  # noqa: E402, F401
    SandboxBillFile,
    SandboxNotifyDelivery,
    SandboxPaymentKnob,
    SandboxPaymentOrder,
    SandboxPaymentRefund,
)
