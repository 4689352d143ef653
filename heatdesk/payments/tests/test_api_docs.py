"""The payments endpoints are documented in the OpenAPI schema with their error codes."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_payments_endpoints_are_in_the_openapi_schema_with_their_errors():
    schema = Client().get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    create = paths["/api/v1/payments/orders"]["post"]
    assert "idempotency_key_reused" in create["description"]
    assert {"201", "200", "409", "422"} <= set(create["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
    assert (
        "payment_order_not_found"
        in paths["/api/v1/payments/orders/{order_id}"]["get"]["description"]
    )
    assert "post" in paths["/api/v1/payments/orders/{order_id}/close"]
    assert "get" in paths["/api/v1/payments/records"]
