"""Helpers for tests: object builders and an API client that speaks JSON with a token."""

import itertools
import json
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.test import Client

from heatdesk.accounts import services as account_services
from heatdesk.accounts.models import User
from heatdesk.accounts.roles import ROLE_RESIDENT
from heatdesk.estates.models import Building, Community, House, Unit

_seq = itertools.count(1)


def make_house(
    *,
    account_no: str | None = None,
    owner_name: str = "张伟",
    owner_phone: str = "13800001234",
    community: Community | None = None,
    **fields: Any,
) -> House:
    n = next(_seq)
    if community is None:
        community, _ = Community.objects.get_or_create(
            code=f"C{n:04d}", defaults={"name": f"测试小区{n}"}
        )
    building, _ = Building.objects.get_or_create(community=community, name=f"{n}号楼")
    unit, _ = Unit.objects.get_or_create(building=building, name="1单元")
    defaults: dict[str, Any] = {
        "room": f"{n:03d}",
        "building_area": Decimal("89.50"),
        "heated_area": Decimal("85.00"),
    }
    defaults.update(fields)
    return House.objects.create(
        account_no=account_no or f"HT{n:08d}",
        unit=unit,
        owner_name=owner_name,
        owner_phone=owner_phone,
        owner_phone_hash=account_services.phone_hash(owner_phone) if owner_phone else "",
        **defaults,
    )


def make_resident(phone: str, *, consented: bool = True) -> User:
    user = account_services.resident_get_or_create_by_phone(phone=phone)
    if consented:
        from django.conf import settings

        account_services.privacy_accept(
            user=user, version=settings.PRIVACY_POLICY_VERSION, ip="127.0.0.1"
        )
    return user


def make_staff(username: str, role: str, password: str = "correct-horse-battery") -> User:  # noqa: S107
    user = User.objects.create_user(username, password, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


class ApiClient:
    """A Django test client that sends JSON to /api/v1/ and carries a bearer token."""

    def __init__(self, token: str | None = None, ip: str = "10.9.8.7") -> None:
        self.client = Client(REMOTE_ADDR=ip)
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        body = json.dumps(data) if data is not None else None
        return self.client.generic(
            method,
            url,
            body or "",
            content_type="application/json",
            headers={**self._headers(), **extra.pop("headers", {})},
            **extra,
        )

    def get(self, path: str, **extra: Any) -> Any:
        return self.request("GET", path, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.request("POST", path, data if data is not None else {}, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.request("DELETE", path, **extra)


def login_resident(phone: str) -> "ApiClient":
    user = make_resident(phone)
    return ApiClient(account_services.token_issue(user=user))


__all__ = [
    "ApiClient",
    "login_resident",
    "make_house",
    "make_resident",
    "make_staff",
    "ROLE_RESIDENT",
]
