"""resident-pages: signed-in residents opening the resident app's main pages (home, house, bills,
bill, pay, bookings, new booking, payment records) round robin, each with the session cookie the
data step made (bench/scenarios/resident_pages_data.py). Issue #6: a typical page transfers
≤ 150 KB and renders in under 1 s on localhost, so the target is p99 ≤ 1,000 ms, read from the
table (the harness's target column is a ratio); throughput is shown beside the bare-JSON ceiling
(hello) of the same run.

Run at 8 connections, one per server thread (2 workers × 4), so p99 is the time of a page on a
fully used server rather than the length of a queue in front of it.

The check, before the load, asks for every page of every resident once without following
redirects: each must answer 200 with the resident page (not the login form), and each page's
weight — its HTML plus the /static/ files it links, the way test_page_weight.py counts it — is
printed beside the 150 KB budget. During the load every answer but 200 counts as an error, and
the data step's verify fails the run if there was any.
"""

import re
import urllib.error
import urllib.request
from pathlib import Path

from bench.scenarios import Context, HttpLoad, register
from bench.scenarios.resident_pages_data import PAGE_NAMES, PAGES_FILE, TALLY_FILE

BUDGET_BYTES = 150 * 1024
TARGET_P99_MS = 1000
ASSET_RE = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')
APPS = Path(__file__).resolve().parents[2] / "heatdesk"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is answered as it is, never followed


_opener = urllib.request.build_opener(_NoRedirect)


def _get(url: str, cookie: str) -> tuple[int, bytes, str]:
    headers = {"Cookie": cookie, "Accept-Language": "zh-CN"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - 127.0.0.1 only
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Location", "")


def _asset_bytes(url: str) -> int:
    """The size of one of our static files (an app's static/ directory), as collectstatic
    would serve it; anything not ours stops the check."""
    if not url.startswith("/static/"):
        raise RuntimeError(f"resident-pages: a page loads {url}, which is not one of our files")
    relative = url.removeprefix("/static/").split("?", 1)[0]
    for folder in APPS.glob("*/static"):
        path = folder / relative
        if path.is_file():
            return path.stat().st_size
    raise RuntimeError(f"resident-pages: {url} is not one of our static files")


def page_weight(html: bytes) -> int:
    assets = {url for url in ASSET_RE.findall(html.decode()) if not url.startswith("data:")}
    return len(html) + sum(_asset_bytes(url) for url in assets)


def _lines(ctx: Context) -> list[tuple[str, str, str]]:
    rows = (line.split("\t") for line in (ctx.workdir / PAGES_FILE).read_text().splitlines())
    return [(cookie, name, path) for cookie, name, path in rows]


def _check(ctx: Context) -> None:
    heaviest: dict[str, int] = {}
    for cookie, name, path in _lines(ctx):
        status, body, location = _get(ctx.base_url + path, cookie)
        if status != 200:
            raise RuntimeError(f"resident-pages: {path} answered {status} {location}".rstrip())
        if b'data-testid="login-form"' in body:
            raise RuntimeError(f"resident-pages: {path} answered the login form")
        heaviest[name] = max(heaviest.get(name, 0), page_weight(body))
    if set(heaviest) != set(PAGE_NAMES):
        raise RuntimeError(f"resident-pages: pages checked {sorted(heaviest)}")
    print("   page weight with static assets, heaviest of the residents (budget 150 KB):")
    for name in PAGE_NAMES:
        size = heaviest[name]
        verdict = "ok" if size <= BUDGET_BYTES else "OVER"
        print(f"     {name:<12} {size / 1024:7.1f} KB  {verdict}")
    print(f"   target: p99 ≤ {TARGET_P99_MS:,} ms (read it from the table's p99 column)")


def _args(ctx: Context) -> tuple[str, ...]:
    return (str(ctx.workdir / PAGES_FILE), str(ctx.workdir / TALLY_FILE))


register(
    HttpLoad(
        name="resident-pages",
        description="GET the resident app's 8 main pages round robin, signed-in residents",
        path="/m/",
        script="resident_pages.lua",
        script_args=_args,
        check=_check,
        ceiling="hello",
        connections=8,
        data_module="bench.scenarios.resident_pages_data",
    )
)
