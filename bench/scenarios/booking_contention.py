"""booking-contention: many clients, few slots — every client books the same slot of capacity 4
at a time (16 attempts per slot, slot after slot). Winners get 201, losers 409 `slot_taken`
(not counted as errors); afterwards no slot may hold more than its capacity and every counter
must equal its bookings. Reported against the one-row-insert ceiling, without a target."""

from bench.scenarios import Context, HttpLoad, register
from bench.scenarios.booking_data import CONTENTION, call, load_data, slot_utc


def _args(ctx: Context) -> tuple[str, ...]:
    data = load_data(ctx.workdir)
    return (
        str(ctx.tokens_file),
        str(ctx.workdir / "booking-contention.offset"),
        str(data["first_epoch"]),
        str(data["starts_per_day"]),
        str(data["attempts_per_slot"]),
        str(data["free_days"] - 1),  # the last day is the check's
    )


def _check(ctx: Context) -> None:
    """Five residents at one slot of capacity 4 on the last day: four 201s, then 409."""
    data = load_data(ctx.workdir)
    tokens = ctx.tokens()
    index = (data["free_days"] - 1) * data["starts_per_day"]
    body = {"service": CONTENTION, "starts_at": slot_utc(data, index)}
    url = ctx.base_url + "/api/v1/bookings"
    answers = [
        call("POST", url, token=tokens[n], body=body, key=f"check-contention-{n}") for n in range(5)
    ]
    statuses = [status for status, _ in answers]
    if statuses != [201, 201, 201, 201, 409] or answers[-1][1].get("code") != "slot_taken":
        raise RuntimeError(f"booking-contention: five attempts at four places gave {answers!r}")


register(
    HttpLoad(
        name="booking-contention",
        description="POST /api/v1/bookings, all clients on one slot of capacity 4 at a time",
        path="/api/v1/bookings",
        script="booking_contention.lua",
        script_args=_args,
        check=_check,
        ceiling="row-insert",
        # 16 connections saturate the 8 server threads; at 64 a booking's queueing time on
        # a busy machine passes wrk's 2 s timeout, and timeouts would count as errors.
        connections=16,
        data_module="bench.scenarios.booking_data",
    )
)
