"""Running test code in forked processes, each with its own database connection, released at
the same moment by a barrier (see the `shared_database` fixture)."""

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

from django.db import connections

Job = Callable[..., Any]


def _child(job: Job, args: tuple[Any, ...], barrier: Any, results: Any, index: int) -> None:
    try:
        answer = ("ok", job(index, barrier, *args))
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the test
        answer = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    finally:
        connections.close_all()
    results.put((index, answer))


def in_processes(job: Job, args: list[tuple[Any, ...]], timeout: float = 120) -> list[Any]:
    """Run `job(index, barrier, *args[i])` in one process per entry of `args`; returns their
    answers in order, raising if any process failed."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(args))
    results = context.Queue()
    connections.close_all()  # children must not share the parent's connection
    workers = [
        context.Process(target=_child, args=(job, a, barrier, results, i))
        for i, a in enumerate(args)
    ]
    for worker in workers:
        worker.start()
    answers: dict[int, Any] = {}
    for _ in workers:
        index, (kind, value) = results.get(timeout=timeout)
        if kind == "error":
            raise AssertionError(f"process {index} failed: {value}")
        answers[index] = value
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return [answers[i] for i in range(len(args))]
