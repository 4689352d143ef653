"""houses-read: a resident's app opening its home screen — GET /api/v1/houses with a bearer
token — for many different residents at 64 concurrent connections."""

from bench.scenarios import Context, HttpLoad, register
from bench.server import get_json


def _check(ctx: Context) -> None:
    url = ctx.base_url + "/api/v1/houses"
    tokens = ctx.tokens()
    for token in (tokens[0], tokens[len(tokens) // 2], tokens[-1]):
        houses = get_json(url, headers={"Authorization": f"Bearer {token}"})
        if not isinstance(houses, list) or not houses:
            raise RuntimeError(f"/api/v1/houses returned no bound houses: {houses!r}")
    get_json(url, status=401, headers={"Authorization": "Bearer hd_not-a-token"})


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
        max_queries=1,  # the token check and the house list, sent together (core.rows)
    )
)
