"""What the simulated providers know: their own keys, and what the merchant registered with them.

A real provider holds its platform/gateway private key and, from the merchant's onboarding, the
merchant's public key (by certificate serial), the APIv3 key, the mchid/appid or app_id. The
simulator takes its own keys from the development key store and the merchant's registration
from the same settings our clients use, so that sandbox mode works with no configuration.
"""

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from heatdesk.payments.providers.config import alipay_config, sandbox_keys, wechatpay_config
from heatdesk.payments.providers.keys import certificate_serial


@dataclass(frozen=True)
class WechatpaySim:
    mchid: str
    appid: str
    api_v3_key: str
    merchant_keys: dict[str, rsa.RSAPublicKey]
    platform_key: rsa.RSAPrivateKey
    public_key_id: str
    platform_cert: x509.Certificate

    @property
    def cert_serial(self) -> str:
        return certificate_serial(self.platform_cert)


@dataclass(frozen=True)
class AlipaySim:
    app_id: str
    seller_id: str
    app_public_key: rsa.RSAPublicKey
    gateway_key: rsa.RSAPrivateKey


def wechatpay_sim() -> WechatpaySim:
    dev = sandbox_keys()
    merchant = wechatpay_config()
    return WechatpaySim(
        mchid=merchant.mchid,
        appid=merchant.appid,
        api_v3_key=merchant.api_v3_key,
        merchant_keys={merchant.cert_serial: merchant.private_key.public_key()},
        platform_key=dev.wechatpay_platform_key,
        public_key_id=dev.wechatpay_platform_public_key_id,
        platform_cert=dev.wechatpay_platform_cert,
    )


def alipay_sim() -> AlipaySim:
    dev = sandbox_keys()
    app = alipay_config()
    return AlipaySim(
        app_id=app.app_id,
        seller_id=settings.ALIPAY_SELLER_ID or "2088000000000001",
        app_public_key=app.private_key.public_key(),
        gateway_key=dev.alipay_gateway_key,
    )
