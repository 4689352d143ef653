"""The scenario registry. A scenario is one HTTP load against the running server (``HttpLoad``)
or one command that measures something else, such as a billing run (``ProcessLoad``); either is
reported as a ratio of a ceiling measured in the same run.

To add one, create a module in this package that builds an ``HttpLoad`` or a ``ProcessLoad``
and calls ``register()``; ``load_all()`` imports every module here, so nothing else needs
editing.
"""

import importlib
import pkgutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.server import Server, ServerConfig


@dataclass(frozen=True)
class Context:
    """What a scenario may use: the server's base URL and the seeded data's files."""

    base_url: str
    workdir: Path
    read_rows: int

    @property
    def tokens_file(self) -> Path:
        return self.workdir / "tokens.txt"

    def tokens(self) -> list[str]:
        return [t for t in self.tokens_file.read_text().splitlines() if t]


@dataclass(frozen=True)
class HttpLoad:
    name: str
    description: str
    path: str  # the endpoint, for the table and the query-count probe
    script: str  # a file in bench/lua/ that prints a RESULT line
    script_args: Callable[[Context], tuple[str, ...]] = lambda ctx: ()
    # Raises if the endpoint does not answer as the scenario expects (wrong data, 401s, …),
    # so a fast error page is never reported as a fast endpoint.
    check: Callable[[Context], None] | None = None
    ceiling: str | None = None  # name of the ceiling it is compared with
    target: float | None = None  # the target for value / ceiling
    # Most SQL queries one request may issue (checked in-process before the load), or None.
    max_queries: int | None = None
    # Concurrent connections for this scenario (None: the run's --connections).
    connections: int | None = None
    # A module run in the bench environment as `python -m MODULE prepare --workdir DIR` after
    # the seed (before the server starts) and `python -m MODULE verify --workdir DIR` after the
    # load; verify prints a `VERIFY ok …` or `VERIFY FAIL …` line (e.g. no slot over capacity).
    data_module: str | None = None
    # Settings the server and the data module need for this scenario, made for the run in its
    # work directory (e.g. provider keys): added to the environment before the data is prepared.
    server_env: Callable[[Path], dict[str, str]] | None = None
    # More rows for the same measurement, each (row name, ceiling name), without a target.
    also_against: tuple[tuple[str, str], ...] = ()
    # Another application instead of HeatDesk (a peer package in its own venv): a context manager
    # that makes its database, starts its server (given HeatDesk's server config) and stops it
    # afterwards, and a function that reads figures from its data after the load (printed and
    # kept with the measurement; not a pass/fail check).
    own_server: "Callable[[Context, ServerConfig], AbstractContextManager[Server]] | None" = None
    after: Callable[[Context], str] | None = None
    # Scenarios measured in the same run when this one is picked alone with --scenario.
    with_scenarios: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessLoad:
    """A scenario that is not an HTTP load: a command (run from the repository root, after the
    HTTP measurements and with the server stopped) that prepares its own data, measures its own
    ceiling in the same run and prints one line `RESULT {json}` with the keys `value`, `unit`,
    `ceiling_value`, `ceiling_description`, `passed` (the issue's targets) and `summary`."""

    name: str
    description: str
    command: Callable[[], list[str]]
    timeout_s: int = 1800


Scenario = HttpLoad | ProcessLoad
SCENARIOS: dict[str, Scenario] = {}


def register(load: Scenario) -> Scenario:
    if load.name in SCENARIOS:
        raise ValueError(f"scenario {load.name!r} is registered twice")
    SCENARIOS[load.name] = load
    return load


def load_all() -> dict[str, Scenario]:
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__name__}.{module.name}")
    return SCENARIOS
