"""houses-read: a resident's app opening its home screen — GET /api/v1/houses with a bearer
token — for many different residents at 64 concurrent connections."""

import json

from bench.scenarios import Context, HttpLoad, register
from bench.server import http_get


def _check(ctx: Context) -> None:
    tokens = ctx.tokens()
    for token in (tokens[0], tokens[len(tokens) // 2], tokens[-1]):
        status, body = http_get(
            ctx.base_url + "/api/v1/houses", headers={"Authorization": f"Bearer {token}"}
        )
        if status != 200:
            raise RuntimeError(f"/api/v1/houses answered {status}: {body[:200]!r}")
        houses = json.loads(body)
        if not houses or not all(h["id"].startswith("hs_") for h in houses):
            raise RuntimeError(f"/api/v1/houses returned no bound houses: {houses!r}")
    status, _ = http_get(
        ctx.base_url + "/api/v1/houses", headers={"Authorization": "Bearer hd_not-a-token"}
    )
    if status != 401:
        raise RuntimeError(f"/api/v1/houses with a wrong token answered {status}, not 401")


register(
    HttpLoad(
        name="houses-read",
        description="GET /api/v1/houses, a different resident's token on each request",
        path="/api/v1/houses",
        script="houses.lua",
        script_args=lambda ctx: (str(ctx.tokens_file),),
        check=_check,
        ceiling="row-read",
        target=0.80,
        max_queries=2,  # the token (with its user) + the bindings with their houses
    )
)
