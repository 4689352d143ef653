from django.db import models

from heatdesk.core.fields import EncryptedTextField


class OutboundSms(models.Model):
    """One SMS to send. Written in the transaction that causes it; a task delivers it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "待发送"
        SENT = "sent", "已发送"
        FAILED = "failed", "发送失败"

    phone = EncryptedTextField()
    phone_hash = models.CharField(max_length=64, db_index=True)
    template = models.CharField(max_length=40)
    # Parameters may hold a login code, so they are encrypted like the phone number.
    params_json = EncryptedTextField(default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    provider = models.CharField(max_length=20, blank=True)
    provider_message_id = models.CharField(max_length=80, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "短信"
        verbose_name_plural = "短信"

    def __str__(self) -> str:
        return f"{self.template} #{self.pk} ({self.status})"
