"""availability: a resident asks for the free slots of a service on 20 windows over 30 days —
GET /api/v1/bookings/availability — with about a third of the places already taken. Run at 2
connections, so p50/p99 are the time of one answer rather than a queue (target p99 ≤ 50 ms);
throughput is shown beside the one-row-read ceiling."""

from bench.scenarios import Context, HttpLoad, register
from bench.scenarios.booking_data import AVAILABILITY, call, load_data


def _args(ctx: Context) -> tuple[str, ...]:
    data = load_data(ctx.workdir)
    return (str(ctx.tokens_file), AVAILABILITY, data["first_day"], data["last_day"])


def _check(ctx: Context) -> None:
    """30 days of Mon–Sat slots, each with 1–60 places left, none beyond the range."""
    data = load_data(ctx.workdir)
    url = (
        f"{ctx.base_url}/api/v1/bookings/availability?service={AVAILABILITY}"
        f"&date_from={data['first_day']}&date_to={data['last_day']}"
    )
    status, answer = call("GET", url, token=ctx.tokens()[0])
    if status != 200:
        raise RuntimeError(f"availability answered {status}: {answer!r}")
    slots = answer["slots"]
    days = {s["starts_at"][:10] for s in slots}
    if len(days) < 20 or not all(1 <= s["remaining"] <= 60 for s in slots):
        raise RuntimeError(f"availability: {len(slots)} slots over {len(days)} days: {slots[:3]}")
    if max(days) > data["last_day"] or min(days) < data["first_day"]:
        raise RuntimeError(f"availability: days {min(days)}…{max(days)} outside the range")


register(
    HttpLoad(
        name="availability",
        description="GET /api/v1/bookings/availability, 30 days × 20 windows",
        path="/api/v1/bookings/availability",
        script="availability.lua",
        script_args=_args,
        check=_check,
        ceiling="row-read",
        connections=2,
        data_module="bench.scenarios.booking_data",
    )
)
