"""The create endpoint writes its BookingOut JSON itself (booking_json): the bytes must be
those ninja would write through the schema, for every shape of answer."""

import datetime as dt
import json

import pytest
from ninja.responses import NinjaJSONEncoder

from heatdesk.bookings.booking_json import booking_json
from heatdesk.bookings.presenters import booking_out
from heatdesk.bookings.schemas import BookingOut
from heatdesk.bookings.selectors import booking_get
from heatdesk.bookings.tests.conftest import TUESDAY
from heatdesk.bookings.tests.factories import make_counter_service
from heatdesk.core.clock import SHANGHAI

pytestmark = pytest.mark.django_db


def schema_json(answer: dict) -> bytes:
    dumped = BookingOut.model_validate(answer).model_dump()
    return json.dumps(dumped, cls=NinjaJSONEncoder).encode()


def book(api, payload, key):
    return api.post("bookings", payload, headers={"Idempotency-Key": key})


def test_every_create_answer_is_the_json_ninja_would_write(
    clock, resident_api, home, repair, window, counter
):
    # given a hold, an approval, a visit for a house, and a replay of one of them
    make_counter_service(window, code="approve", requires_approval=True)
    requests = [
        ({"service": "counter", "starts_at": f"{TUESDAY}T10:00:00+08:00", "hold": True}, "j-1"),
        (
            {"service": "approve", "starts_at": f"{TUESDAY}T11:00:00+08:00", "note": '"引号"\\'},
            "j-2",
        ),
        (
            {
                "service": "repair",
                "starts_at": f"{TUESDAY}T14:00:00+08:00",
                "house_id": home.public_id,
            },
            "j-3",
        ),
        ({"service": "counter", "starts_at": f"{TUESDAY}T10:00:00+08:00", "hold": True}, "j-1"),
    ]
    for payload, key in requests:
        # when
        response = book(resident_api, payload, key)
        # then the bytes are those of the schema, with its content type
        assert response.status_code in (200, 201), response.content
        assert response["Content-Type"] == "application/json; charset=utf-8"
        expected = booking_out(booking_get(booking_id=response.json()["id"]))
        assert response.content == schema_json(expected)
    assert [r["status"] for r in resident_api.get("bookings").json()] == [
        "confirmed",
        "pending",
        "held",
    ]


def test_the_json_matches_the_schema_for_odd_values():
    # times in other offsets and with microseconds, text that needs escaping, no house
    utc = dt.datetime(2026, 12, 1, 1, 0, 0, 123456, tzinfo=dt.UTC)
    local = dt.datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI)
    answer = {
        "id": "bk_1",
        "code": "AB12",
        "service": 'c"1\\',
        "service_name": "营业厅\n办理",
        "status": "held",
        "status_label": "保留中",
        "starts_at": utc,
        "ends_at": local,
        "house_id": None,
        "address": "",
        "location": "1号窗口",
        "resource_name": "窗口\t1",
        "note": "\u2028",
        "hold_expires_at": None,
        "cancel_deadline": local,
        "reschedule_deadline": utc,
        "can_cancel": True,
        "can_reschedule": False,
        "link": "https://x/m/b/a:b/",
        "history": [
            {
                "at": utc,
                "kind": "created",
                "from_status": "",
                "to_status": "held",
                "actor": "王",
                "reason": "",
            }
        ],
    }
    assert booking_json(answer).encode() == schema_json(answer)
    answer.update(house_id="h_1", hold_expires_at=local, history=[])
    assert booking_json(answer).encode() == schema_json(answer)


def test_the_schema_still_documents_the_create_answer():
    from heatdesk.config.api import api

    operation = api.get_openapi_schema()["paths"]["/api/v1/bookings"]["post"]
    for status in (200, 201):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/BookingOut"}
