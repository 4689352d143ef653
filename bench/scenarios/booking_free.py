"""booking-free: residents book over HTTP with no contention — POST /api/v1/bookings, every
request a slot nobody else asks for — judged against the one-row-insert ceiling (target ≥ 50 %).
The data check afterwards: every slot counter equals its bookings, none over capacity."""

from bench.scenarios import Context, HttpLoad, register
from bench.scenarios.booking_data import call, free_code, load_data, slot_utc


def _args(ctx: Context) -> tuple[str, ...]:
    data = load_data(ctx.workdir)
    return (
        str(ctx.tokens_file),
        str(ctx.workdir / "booking-free.offset"),
        str(data["first_epoch"]),
        str(data["free_services"]),
        str(data["starts_per_day"]),
        str(data["free_days"] - 1),  # the last day is the check's
    )


def _check(ctx: Context) -> None:
    """A booking on the last day (the load never gets there): 201, the same key again 200 with
    the same booking, and the slot is then gone for another resident (409)."""
    data = load_data(ctx.workdir)
    tokens = ctx.tokens()
    index = (data["free_days"] - 1) * data["starts_per_day"]
    body = {"service": free_code(0), "starts_at": slot_utc(data, index)}
    url = ctx.base_url + "/api/v1/bookings"
    status, first = call("POST", url, token=tokens[0], body=body, key="check-free")
    if status != 201 or first.get("status") != "confirmed":
        raise RuntimeError(f"booking-free: the first booking answered {status}: {first!r}")
    status, again = call("POST", url, token=tokens[0], body=body, key="check-free")
    if status != 200 or again.get("id") != first["id"]:
        raise RuntimeError(f"booking-free: the repeated key answered {status}: {again!r}")
    status, taken = call("POST", url, token=tokens[1], body=body, key="check-free-2")
    if status != 409 or taken.get("code") != "slot_taken":
        raise RuntimeError(f"booking-free: a full slot answered {status}: {taken!r}")


register(
    HttpLoad(
        name="booking-free",
        description="POST /api/v1/bookings, each request its own free slot, 20 services",
        path="/api/v1/bookings",
        script="booking_free.lua",
        script_args=_args,
        check=_check,
        ceiling="row-insert",
        target=0.50,
        # 16 connections saturate the 8 server threads; at 64 a booking's queueing time on
        # a busy machine passes wrk's 2 s timeout, and timeouts would count as errors.
        connections=16,
        data_module="bench.scenarios.booking_data",
    )
)
