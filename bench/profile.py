"""In-process look at one endpoint on the bench database: SQL queries per request (must not grow
with the data) and, with --profile N, where the time of N requests goes (cProfile).

    python -m bench.profile --path /api/v1/houses --tokens-file T [--profile 2000]

`bench.run` calls it with the bench settings before a scenario's load, to hold the scenario's
query budget. It uses Django's test client, so no HTTP server is involved.
"""

import argparse
import cProfile
import json
import pstats
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", required=True)
    parser.add_argument("--tokens-file", type=Path)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--profile", type=int, default=0, help="profile this many requests")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    tokens = args.tokens_file.read_text().split() if args.tokens_file else [""]
    step = max(len(tokens) // args.samples, 1)
    sample = tokens[::step][: args.samples]
    client = Client()

    def get(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.get(args.path, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"GET {args.path} answered {response.status_code}")
        body = response.json()
        return len(body) if isinstance(body, list) else 1

    get(sample[0])  # warm caches (URL resolver, schemas, connection)
    counts: dict[int, set[int]] = {}
    for token in sample:
        with CaptureQueriesContext(connection) as ctx:
            items = get(token)
        counts.setdefault(items, set()).add(len(ctx.captured_queries))
    queries = max(max(v) for v in counts.values())
    print(
        "QUERIES "
        + json.dumps(
            {
                "path": args.path,
                "max": queries,
                "by_items": {k: sorted(v) for k, v in sorted(counts.items())},
            }
        )
    )

    if args.profile:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for i in range(args.profile):
            get(tokens[i % len(tokens)])
        profiler.disable()
        elapsed = time.perf_counter() - started
        each = elapsed / args.profile * 1e6
        print(f"{args.profile} requests in {elapsed:.2f} s: {each:.0f} µs each (profiled)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
