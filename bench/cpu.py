"""Where the CPU went during a measured run, read from /proc: the server's process group,
PostgreSQL backends, the load generator, everything else on the machine, and hypervisor steal.

A run where "other + steal" is large measured the neighbours as much as HeatDesk; the harness
flags (and retries once) such runs instead of trusting them.
"""

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Snapshot:
    busy: int  # jiffies spent by all CPUs in user and system mode (what processes get billed)
    irq: int  # interrupts and softirqs: mostly the loopback traffic of the benchmark itself
    steal: int
    total: int
    server: int  # utime + stime of the server's process group
    postgres: int  # utime + stime of processes named postgres
    children: float  # seconds of CPU used by our reaped children (wrk, pgbench)


@dataclass(frozen=True)
class Split:
    """Shares of the whole machine (all CPUs) in per cent. `other` is user and system time no
    process of the benchmark accounts for; interrupts count in `busy` only."""

    busy: float
    server: float
    postgres: float
    loadgen: float
    other: float
    steal: float

    @property
    def noise(self) -> float:
        return self.other + self.steal

    def as_dict(self) -> dict[str, float]:
        return {
            "busy": round(self.busy, 1),
            "server": round(self.server, 1),
            "postgres": round(self.postgres, 1),
            "loadgen": round(self.loadgen, 1),
            "other": round(self.other, 1),
            "steal": round(self.steal, 1),
        }


def _stat_fields(pid_dir: Path) -> list[str] | None:
    try:
        text = (pid_dir / "stat").read_text()
    except OSError:
        return None
    close = text.rfind(")")
    # fields[0] is the state (field 3 of proc(5)); comm sits between the parentheses.
    return [text[text.find("(") + 1 : close], *text[close + 2 :].split()]


def _process_jiffies(pgid: int | None) -> tuple[int, int]:
    server = postgres = 0
    for pid_dir in PROC.iterdir():
        if not pid_dir.name.isdigit():
            continue
        fields = _stat_fields(pid_dir)
        if fields is None:
            continue
        comm, rest = fields[0], fields[1:]
        used = int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15 of proc(5))
        if pgid is not None and int(rest[2]) == pgid:
            server += used
        elif comm.startswith("postgres"):
            # + cutime, cstime: the postmaster reaps backends that exit during the run.
            postgres += used + int(rest[13]) + int(rest[14])
    return server, postgres


def _machine_jiffies() -> tuple[int, int, int, int]:
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system
    return busy, irq + softirq, steal, busy + irq + softirq + steal + idle + iowait


def snapshot(server_pgid: int | None) -> Snapshot:
    busy, irq, steal, total = _machine_jiffies()
    server, postgres = _process_jiffies(server_pgid)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Snapshot(busy, irq, steal, total, server, postgres, usage.ru_utime + usage.ru_stime)


def split(before: Snapshot, after: Snapshot) -> Split:
    total = max(after.total - before.total, 1)
    hz = os.sysconf("SC_CLK_TCK")

    def share(jiffies: float) -> float:
        return 100.0 * jiffies / total

    busy = share(after.busy - before.busy)
    server = share(after.server - before.server)
    postgres = share(after.postgres - before.postgres)
    loadgen = share((after.children - before.children) * hz)
    other = max(busy - server - postgres - loadgen, 0.0)
    irq = share(after.irq - before.irq)
    return Split(busy + irq, server, postgres, loadgen, other, share(after.steal - before.steal))


def busy_share(seconds: float = 1.0) -> float:
    """Per cent of all CPUs busy (interrupts and steal included) over `seconds`."""
    b1, i1, s1, t1 = _machine_jiffies()
    time.sleep(seconds)
    b2, i2, s2, t2 = _machine_jiffies()
    return 100.0 * ((b2 - b1) + (i2 - i1) + (s2 - s1)) / max(t2 - t1, 1)


def wait_until_idle(*, threshold: float, max_seconds: float) -> tuple[float, float]:
    """Sample once a second until the machine is below `threshold` % busy, for at most
    `max_seconds`. Returns (last busy %, seconds waited)."""
    started = time.monotonic()
    share = busy_share()
    while share > threshold and time.monotonic() - started < max_seconds:
        share = busy_share()
    return share, time.monotonic() - started


def backend_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the process `pid` has used: a PostgreSQL backend, say."""
    fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_call(
    call: Callable[[int], None], *, first: int = 0, warm: int, rounds: int, requests: int
) -> tuple[float, float]:
    """Best (lowest) µs of this process's CPU and of its PostgreSQL backend's per `call(i)`,
    over `rounds` rounds of `requests` calls after `warm` calls; `i` counts up from `first`, so
    a call can use it to pick a different row or a different order each time. In-process, one
    thread: the steadier figure on a busy machine, as it counts CPU seconds, not wall time."""
    from django.db import connection

    for i in range(first, first + warm):
        call(i)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    best = (float("inf"), float("inf"))
    for r in range(rounds):
        start = first + warm + r * requests
        py, pg = time.process_time(), backend_cpu_seconds(backend)
        for i in range(start, start + requests):
            call(i)
        py = (time.process_time() - py) / requests * 1e6
        pg = (backend_cpu_seconds(backend) - pg) / requests * 1e6
        best = min(best, (py, pg), key=sum)
    return best
