"""The load generator: wrk, driven with the Lua scripts in bench/lua/ from a separate process."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # HTTP status >= 400, timeouts, connect/read/write errors

    @classmethod
    def parse(cls, output: str) -> "WrkResult":
        line = next((x for x in output.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
        values = dict(item.split("=", 1) for item in line.split()[1:])
        errors = sum(int(values[k]) for k in values if k.startswith("err_"))
        return cls(
            requests=int(values["requests"]),
            rps=float(values["rps"]),
            p50_ms=float(values["p50_ms"]),
            p90_ms=float(values["p90_ms"]),
            p99_ms=float(values["p99_ms"]),
            max_ms=float(values["max_ms"]),
            errors=errors,
        )


def find_wrk(*, install: bool) -> str:
    """wrk from PATH; if missing and allowed (running as root), `apt-get install -y wrk`."""
    found = shutil.which("wrk")
    if found:
        return found
    how = "install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again"
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"wrk (the load generator) is not installed: {how}")
    print("wrk not found: apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        # The package lists may be missing on a fresh machine: refresh them once.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    found = shutil.which("wrk")
    if result.returncode != 0 or not found:
        raise SystemExit(f"could not install wrk ({result.stderr.strip()[-300:]}): {how}")
    return found


def run_wrk(
    wrk: str,
    *,
    url: str,
    script: str,
    script_args: tuple[str, ...] = (),
    connections: int,
    seconds: float,
    threads: int = 2,
) -> WrkResult:
    """One wrk run of `seconds` against `url` (127.0.0.1 only) with bench/lua/`script`."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("bench traffic stays on 127.0.0.1")
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(int(round(seconds)), 1)}s",
        "-s",
        script,
        url,
    ]
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(
        command,
        cwd=LUA_DIR,  # the scripts load report.lua by relative path
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return WrkResult.parse(done.stdout)
