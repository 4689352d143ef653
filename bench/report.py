"""A run's figures: the readable table and bench/results/latest.json."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu import Split

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NOISY = 10.0  # per cent of the machine used by other processes plus steal


@dataclass
class Measured:
    name: str
    description: str
    unit: str  # "req/s" or "tps"
    value: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    ceiling: str | None = None
    target: float | None = None
    cpu: Split | None = None
    attempts: int = 1
    queries: int | None = None

    def details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "value": round(self.value, 1),
            "unit": self.unit,
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
            "ceiling": self.ceiling,
            "target": self.target,
            "cpu": self.cpu.as_dict() if self.cpu else None,
            "attempts": self.attempts,
            "queries": self.queries,
        }


def _ratio(value: float, ceiling: float | None) -> float | None:
    return round(value / ceiling, 4) if ceiling else None


def entries(measured: list[Measured]) -> list[dict[str, Any]]:
    """The results list: throughput, p50 and p99 of each measurement, each beside its ceiling.
    For latencies the ratio is value / ceiling as well (above 1 means slower than the ceiling)."""
    by_name = {m.name: m for m in measured}
    rows: list[dict[str, Any]] = []
    for m in measured:
        base = by_name.get(m.ceiling) if m.ceiling else None
        for suffix, unit, value, ceiling in (
            ("", m.unit, m.value, base.value if base else None),
            (".p50", "ms", m.p50_ms, base.p50_ms if base else None),
            (".p99", "ms", m.p99_ms, base.p99_ms if base else None),
        ):
            rows.append(
                {
                    "name": m.name + suffix,
                    "value": round(value, 2),
                    "unit": unit,
                    "ceiling": round(ceiling, 2) if ceiling is not None else None,
                    "ratio": _ratio(value, ceiling),
                }
            )
    return rows


def table(measured: list[Measured]) -> str:
    by_name = {m.name: m for m in measured}
    header = (
        f"{'measurement':<14} {'throughput':>14} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f"  {'ceiling':<24} {'ratio':>7}  {'target':<10} {'noise':>6}"
    )
    lines = [header, "-" * len(header)]
    for m in measured:
        base = by_name.get(m.ceiling) if m.ceiling else None
        ceiling = ratio = target = "—"
        if base:
            ceiling = f"{base.name} {base.value:,.0f} {base.unit}"
            r = m.value / base.value
            ratio = f"{r:.1%}"
            if m.target is not None:
                target = f"≥{m.target:.0%} " + ("ok" if r >= m.target else "MISS")
        noise = "—"
        if m.cpu is not None:
            noise = f"{m.cpu.noise:.0f}%" + ("!" if m.cpu.noise > NOISY else "")
        lines.append(
            f"{m.name:<14} {m.value:>8,.0f} {m.unit:<5} {m.p50_ms:>8.1f} {m.p99_ms:>8.1f}"
            f" {m.errors:>7}  {ceiling:<24} {ratio:>7}  {target:<10} {noise:>6}"
        )
    return "\n".join(lines)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write(measured: list[Measured], meta: dict[str, Any]) -> Path:
    """latest.json (the figures) and latest-run.json (how they were taken)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    latest = RESULTS_DIR / "latest.json"
    _write_json(latest, entries(measured))
    _write_json(
        RESULTS_DIR / "latest-run.json",
        {**meta, "measurements": [m.details() for m in measured]},
    )
    return latest
