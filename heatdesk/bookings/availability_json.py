"""The availability answer written to JSON without a pydantic object per slot.

A month of free slots is a few hundred `SlotOut`s; validating each into a schema object and
dumping it again cost more than finding the slots. The endpoint still declares `AvailabilityOut`
(the OpenAPI schema is the same), and the bytes are the ones ninja would send: each value is
turned into the JSON type `AvailabilityOut` gives it, times by the encoder ninja uses, and the
document by the same `json.dumps`. A test holds the two equal.
"""

import datetime as dt
import json
from typing import Any

from django.http import HttpResponse
from ninja.responses import NinjaJSONEncoder

_encoder = NinjaJSONEncoder()
CONTENT_TYPE = "application/json; charset=utf-8"


def _moment(value: dt.datetime) -> str:
    text: str = _encoder.default(value)
    return text


def availability_json(answer: dict[str, Any]) -> str:
    """`answer` (as `api_common.availability_answer` shapes it) as the JSON of AvailabilityOut."""
    # Every slot of a grid shares its times with its neighbours' ends: format each moment once.
    texts: dict[dt.datetime, str] = {}
    slots = []
    for slot in answer["slots"]:
        starts_at, ends_at = slot["starts_at"], slot["ends_at"]
        starts = texts.get(starts_at)
        if starts is None:
            starts = texts[starts_at] = _moment(starts_at)
        ends = texts.get(ends_at)
        if ends is None:
            ends = texts[ends_at] = _moment(ends_at)
        slots.append({"starts_at": starts, "ends_at": ends, "remaining": int(slot["remaining"])})
    document = {
        "service": str(answer["service"]),
        "date_from": answer["date_from"].isoformat(),
        "date_to": answer["date_to"].isoformat(),
        "slots": slots,
    }
    return json.dumps(document)


def availability_response(answer: dict[str, Any]) -> HttpResponse:
    return HttpResponse(availability_json(answer), content_type=CONTENT_TYPE)
