from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field


class HouseOut(Schema):
    id: str = Field(description="The house's public id")
    account_no: str
    community: str
    building: str
    unit: str
    room: str
    address: str
    building_area: Decimal
    heated_area: Decimal
    usage_type: str
    user_type: str
    heating_status: str
    heating_status_label: str
    relation: str
    relation_label: str
    owner_name_masked: str
    bound_at: str


class BindIn(Schema):
    account_no: str = Field(..., max_length=32, description="户号")
    relation: Literal["owner", "family", "tenant"]
    owner_name: str = Field("", max_length=50, description="户主姓名 (or phone_last4)")
    phone_last4: str = Field("", max_length=4, description="户主手机号后四位 (or owner_name)")


class Choice(Schema):
    value: str
    label: str


class BindingRequirementsOut(Schema):
    account_no_hint: str
    owner_checks: list[Choice]
    relations: list[Choice]
    max_houses: int
    bound_houses: int
    phone_verified: bool
    privacy_consent_required: bool
