"""CPU per request of houses-read beside the one-row read, in-process: a cross-check of the HTTP
ratio that a busy machine disturbs much less, because it counts CPU time, not requests per wall
second. Not a registered scenario (nothing here runs on import).

    python -m bench.scenarios.houses_cpu --tokens-file T [--rows 1000] [--requests 2000]

Run it with the bench settings on a seeded bench database (see bench/README.md). For each
endpoint it sends the requests through Django's test client in one thread and reads the CPU
time of this process and of its PostgreSQL backend (/proc/<pid>/stat, same machine). At
saturation throughput is about inversely proportional to CPU per request, so
row-read CPU ÷ houses-read CPU estimates the HTTP ratio, without the server's and wrk's share,
which is the same for both.
"""

import argparse
from collections.abc import Callable
from pathlib import Path

from bench.cpu import cpu_per_call


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens-file", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=100_000, help="seeded rows of the read ceiling")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.test import Client

    client = Client()
    tokens = args.tokens_file.read_text().split()

    def houses(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        response = client.get("/api/v1/houses", headers=headers)
        if response.status_code != 200 or not response.json():
            raise SystemExit(f"/api/v1/houses answered {response.status_code}")

    def row_read(i: int) -> None:
        response = client.get(f"/bench/rows/{i * 7919 % args.rows + 1}")
        if response.status_code != 200:
            raise SystemExit(f"/bench/rows answered {response.status_code}")

    def measure(call: Callable[[int], None]) -> tuple[float, float]:
        return cpu_per_call(call, warm=200, rounds=args.rounds, requests=args.requests)

    results = {"row-read": measure(row_read), "houses-read": measure(houses)}
    for name, (py, pg) in results.items():
        print(f"{name:12s} {py:7.0f} µs Python + {pg:5.0f} µs PostgreSQL = {py + pg:7.0f} µs CPU")
    ratio = sum(results["row-read"]) / sum(results["houses-read"])
    print(f"RESULT cpu_ratio={ratio:.3f}  (row-read CPU / houses-read CPU per request)")


if __name__ == "__main__":
    main()
