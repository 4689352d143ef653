from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from heatdesk.core.fields import EncryptedTextField
from heatdesk.core.ids import new_public_id


def _user_public_id() -> str:
    return new_public_id("u")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(
        self, username: str | None = None, password: str | None = None, **extra: Any
    ) -> "User":
        user = self.model(username=username or None, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: a resident (SMS code or WeChat) or staff (username + password).

    Residents have no username and no usable password; staff have both. The phone number is
    encrypted; `phone_hash` (a blind index) finds a user by phone without decrypting anything.
    """

    public_id = models.CharField(
        max_length=24, unique=True, default=_user_public_id, editable=False
    )
    username = models.CharField(max_length=150, unique=True, null=True, blank=True)
    display_name = models.CharField(max_length=100, blank=True)
    phone = EncryptedTextField(blank=True, default="")
    phone_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    privacy_version = models.CharField(max_length=20, blank=True)
    privacy_accepted_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.username or self.display_name or self.public_id

    @property
    def has_verified_phone(self) -> bool:
        return self.phone_verified_at is not None and bool(self.phone_hash)


class ApiToken(models.Model):
    """An opaque bearer token; only its SHA-256 is stored. Expires, and can be revoked."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    client = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name = "API 令牌"
        verbose_name_plural = "API 令牌"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class SmsCode(models.Model):
    """A one-time login code sent by SMS. Only a keyed hash of the code is stored."""

    class Purpose(models.TextChoices):
        LOGIN = "login", "登录"
        BIND_PHONE = "bind_phone", "绑定手机号"

    phone_hash = models.CharField(max_length=64)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["phone_hash", "purpose", "-created_at"], name="smscode_lookup_idx")
        ]

    def __str__(self) -> str:
        return f"{self.purpose} code {self.pk}"


class WechatIdentity(models.Model):
    """A WeChat mini-program user (openid). Sees no house until its user has a verified phone."""

    appid = models.CharField(max_length=40)
    openid = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True)
    session_key = EncryptedTextField(blank=True, default="")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="wechat_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appid", "openid"], name="wechat_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.appid}/{self.openid}"


class PrivacyConsent(models.Model):
    """Each acceptance of a privacy-policy version, kept as evidence."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="privacy_consents")
    version = models.CharField(max_length=20)
    accepted_at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="privacy_consent_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} accepted {self.version}"
