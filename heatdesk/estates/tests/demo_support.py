"""The demo city for tests: `load_demo()` runs `heatdesk demo`, and the module-scoped
`demo_output` fixture loads it once for a test module whose tests only read it (or write
inside their own test's savepoint)."""

import io
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction


def load_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module", name="demo_output")
def demo_output_once(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """What the first `heatdesk demo` printed; the city stays loaded until the module ends.

    Shared by test modules that only read the demo (or write inside their test's savepoint)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            output = load_demo()
        except BaseException:
            outer.__exit__(*sys.exc_info())
            raise
    try:
        yield output
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
