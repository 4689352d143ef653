"""Browser journeys: Debian's Chromium driven by Playwright against pytest-django's live server.

Tests marked `e2e` are deselected, with a printed reason, when Chromium is not installed.
Screenshots go to var/screenshots/ at the phone size the pages are designed for (360×640).
"""

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heatdesk.payments.tests.orders_support import (  # noqa: F401 - fixtures for pay pages
    bills,
    frozen_day,
    sim,
)
from heatdesk.payments.tests.support import (  # noqa: F401 - fixtures for pay pages
    payment_keys,
    payment_keys_dir,
    payment_settings,
)

CHROMIUM = Path(os.environ.get("HEATDESK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE_SIZE = {"width": 360, "height": 640}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    e2e = [item for item in items if item.get_closest_marker("e2e") is not None]
    if not e2e:
        return
    items[:] = [item for item in items if item.get_closest_marker("e2e") is None]
    config.hook.pytest_deselected(items=e2e)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker not in (None, "gw0"):
        return  # one line per run is enough
    line = (
        f"e2e: {CHROMIUM} not found, so {len(e2e)} browser journeys are deselected "
        "(install it with `apt-get install chromium`, then `make e2e`)"
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if worker is None and reporter is not None:
        reporter.write_line(line, yellow=True, bold=True)
    else:  # an xdist worker's own output is not shown; its stderr is the run's
        sys.__stderr__.write(f"\n{line}\n")
        sys.__stderr__.flush()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's event loop must be gone before later tests fork processes
    that use Django's connections (the loop changes where they are looked up)."""
    from playwright.sync_api import expect, sync_playwright

    # Waits are generous: a loaded CI machine can take seconds for a step a phone does at once,
    # and a wait ends as soon as its condition holds, so a fast run stays fast.
    expect.set_options(timeout=20_000)
    # Playwright's sync API runs an event loop in this thread; the tests still call the ORM
    # (to check the database) between browser steps, which is safe here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def phone_page(browser: Any, live_server: Any, transactional_db: None) -> Iterator[Any]:
    """A fresh phone-sized tab whose browser prefers Simplified Chinese, like a resident's."""
    context = browser.new_context(
        viewport=PHONE_SIZE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        base_url=live_server.url,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Any:
    """shot(page, "step") saves var/screenshots/<test>-<nn>-<step>.png."""
    from django.conf import settings

    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"^test_", "", request.node.name)
    counter = iter(range(1, 100))

    def shot(page: Any, step: str) -> Path:
        path = folder / f"{stem}-{next(counter):02d}-{step}.png"
        if page.locator("[data-toast]").count():
            page.wait_for_timeout(200)  # let the toast fade in fully
        page.screenshot(path=str(path))
        return path

    return shot


# Non-browser helpers: signed-in test clients and a house bound to the resident persona.


@pytest.fixture
def resident_client(resident: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(resident)
    return client


@pytest.fixture
def neighbour_client(neighbour: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(neighbour)
    return client


@pytest.fixture
def bound_house_a(resident: Any, house_a: Any) -> Any:
    from heatdesk.estates.services import house_bind

    house_bind(user=resident, account_no=house_a.account_no, relation="owner", owner_name="王秀英")
    return house_a
