"""Provider clients keyed from settings (see the README's settings table).

In sandbox mode every key left unset comes from the development key store, so the simulators
and our clients agree out of the box; in production a missing key is a configuration error.
"""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from heatdesk.payments.providers.alipay_client import AlipayClient, AlipayConfig
from heatdesk.payments.providers.devkeys import DevKeys, dev_keys
from heatdesk.payments.providers.keys import load_certificates, load_private_key, load_public_key
from heatdesk.payments.providers.wechatpay_client import WechatPayClient, WechatPayConfig
from heatdesk.payments.providers.wechatpay_protocol import PlatformKeys


def sandbox_keys() -> DevKeys:
    """The development key store (sandbox mode only)."""
    if not settings.SANDBOX:
        raise ImproperlyConfigured("development payment keys exist only in sandbox mode")
    return dev_keys(Path(settings.PAYMENTS_DEV_KEYS_DIR))


def _required(name: str) -> str:
    value = str(getattr(settings, name, "") or "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set")
    return value


def wechatpay_config() -> WechatPayConfig:
    dev = sandbox_keys() if settings.SANDBOX else None
    try:
        if settings.WECHATPAY_PRIVATE_KEY or dev is None:
            private_key = load_private_key(_required("WECHATPAY_PRIVATE_KEY"))
            serial = _required("WECHATPAY_CERT_SERIAL")
        else:
            private_key = dev.wechatpay_merchant_key
            serial = settings.WECHATPAY_CERT_SERIAL or dev.wechatpay_merchant_serial
        public_key_text = settings.WECHATPAY_PLATFORM_PUBLIC_KEY
        certificates = load_certificates(settings.WECHATPAY_PLATFORM_CERTIFICATES)
        if public_key_text:
            platform = PlatformKeys.build(
                public_key=load_public_key(public_key_text),
                public_key_id=_required("WECHATPAY_PLATFORM_PUBLIC_KEY_ID"),
                certificates=certificates,
            )
        elif certificates or dev is None:
            platform = PlatformKeys.build(certificates=certificates)
        else:
            platform = PlatformKeys.build(
                public_key=dev.wechatpay_platform_key.public_key(),
                public_key_id=dev.wechatpay_platform_public_key_id,
            )
        api_v3_key = settings.WECHATPAY_API_V3_KEY or (dev.wechatpay_api_v3_key if dev else "")
        if len(api_v3_key.encode()) != 32:
            raise ImproperlyConfigured("WECHATPAY_API_V3_KEY must be 32 bytes")
    except ValueError as exc:
        raise ImproperlyConfigured(f"WeChat Pay settings: {exc}") from exc
    return WechatPayConfig(
        mchid=_required("WECHATPAY_MCHID"),
        appid=_required("WECHATPAY_APPID"),
        api_v3_key=api_v3_key,
        private_key=private_key,
        cert_serial=serial,
        platform=platform,
        base_url=_required("WECHATPAY_BASE_URL"),
        notify_url=_required("WECHATPAY_NOTIFY_URL"),
        timeout=float(settings.PAYMENTS_PROVIDER_TIMEOUT_SECONDS),
    )


def alipay_config() -> AlipayConfig:
    dev = sandbox_keys() if settings.SANDBOX else None
    try:
        if settings.ALIPAY_PRIVATE_KEY or dev is None:
            private_key = load_private_key(_required("ALIPAY_PRIVATE_KEY"))
        else:
            private_key = dev.alipay_app_key
        if settings.ALIPAY_PUBLIC_KEY or dev is None:
            alipay_public_key = load_public_key(_required("ALIPAY_PUBLIC_KEY"))
        else:
            alipay_public_key = dev.alipay_gateway_key.public_key()
    except ValueError as exc:
        raise ImproperlyConfigured(f"Alipay settings: {exc}") from exc
    return AlipayConfig(
        app_id=_required("ALIPAY_APP_ID"),
        private_key=private_key,
        alipay_public_key=alipay_public_key,
        gateway=_required("ALIPAY_GATEWAY"),
        notify_url=_required("ALIPAY_NOTIFY_URL"),
        seller_id=settings.ALIPAY_SELLER_ID,
        timeout=float(settings.PAYMENTS_PROVIDER_TIMEOUT_SECONDS),
    )


def wechatpay_client() -> WechatPayClient:
    return WechatPayClient(wechatpay_config())


def alipay_client() -> AlipayClient:
    return AlipayClient(alipay_config())
