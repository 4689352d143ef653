import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import Field


class SmsCodeIn(Schema):
    phone: str = Field(..., max_length=20, description="Mainland mobile number, 11 digits")
    purpose: Literal["login", "bind_phone"] = "login"


class SmsCodeOut(Schema):
    sent: bool
    retry_after: int = Field(description="Seconds before another code may be requested")


class SmsLoginIn(Schema):
    phone: str = Field(..., max_length=20)
    code: str = Field(..., max_length=10)


class WechatLoginIn(Schema):
    code: str = Field(..., min_length=1, max_length=128, description="From wx.login()")


class WechatPhoneIn(Schema):
    phone: str = Field(..., max_length=20)
    code: str = Field(..., max_length=10, description="SMS code sent with purpose bind_phone")


class MeOut(Schema):
    id: str
    display_name: str
    phone_masked: str
    phone_verified: bool
    roles: list[str]
    privacy_version_accepted: str
    privacy_consent_required: bool


class LoginOut(Schema):
    token: str
    expires_in: int = Field(description="Seconds until the token expires")
    user: MeOut


class PrivacyConsentIn(Schema):
    version: str = Field(..., max_length=20)


class PrivacyPolicyOut(Schema):
    version: str
    url: str
    updated: dt.date | None = None
