"""Where one notify's time goes, in-process (Django's test client, no HTTP server), on a bench
database prepared by a notify-settle run (`DATABASE_URL`, default heatdesk_bench):

    python -m bench.scenarios.notify_settle_profile [--requests 300] [--top 30]

It makes fresh WeChat Pay keys (the server's settings come from them, as in a run), signs one
notify for each of N still-PENDING orders of the scenario's 小区 and posts them one by one. It
prints the SQL of one notify (each statement is one round trip; BEGIN and COMMIT are two more),
the time of each step measured alone (settings and keys, RSA verify, AES-GCM, JSON, the whole
request), and a cProfile of the requests. Each posted notify settles its order for real.
"""

import argparse
import cProfile
import json
import os
import pstats
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.scenarios.notify_settle_data import COMMUNITY


def _environment(workdir: Path) -> None:
    from bench import pg
    from bench.run import DEFAULT_DATABASE_URL, bench_env
    from bench.scenarios.notify_settle import server_env

    target = pg.PgTarget.parse(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    os.environ.update(bench_env(target))
    os.environ.update(server_env(workdir))


def _best_us(fn: Any, rounds: int = 200) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="heatdesk-notify-profile-"))
    _environment(workdir)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.scenarios.notify_settle import PATH, _sign_chunk
    from heatdesk.payments.models import PaymentOrder
    from heatdesk.payments.notify import wechatpay_parse_notify
    from heatdesk.payments.providers import wechatpay_protocol as proto
    from heatdesk.payments.providers.config import wechatpay_config

    pending = list(
        PaymentOrder.objects.filter(
            status=PaymentOrder.Status.PENDING,
            items__house__unit__building__community__code=COMMUNITY,
        )
        .order_by("-id")
        .values("out_trade_no", "amount_fen")[: args.requests + 2]
    )
    if len(pending) < args.requests + 2:
        raise SystemExit(f"only {len(pending)} PENDING bench orders left: run the bench again")
    stamp, run = time.strftime("%Y%m%d"), secrets.randbelow(10**7)  # unique per invocation
    orders = [
        {**o, "transaction_id": f"42009{stamp}{run:07d}{n:08d}"} for n, o in enumerate(pending)
    ]
    signed = _sign_chunk(str(workdir), orders)
    client = Client()

    def post(headers: dict[str, str], body: bytes) -> None:
        response = client.generic(
            "POST", PATH, body, content_type="application/json", headers=headers
        )
        if response.status_code != 200:
            raise SystemExit(f"{PATH} answered {response.status_code}: {response.content!r}")

    post(*signed[0])  # warm up: URL resolver, settings, connection
    with CaptureQueriesContext(connection) as captured:
        post(*signed[1])
    print(f"SQL statements for one notify: {len(captured.captured_queries)} (+ BEGIN, COMMIT)")
    for query in captured.captured_queries:
        print(f"  {float(query['time']) * 1000:6.2f} ms  {query['sql'][:150]}")

    headers, body = signed[2]
    config = wechatpay_config()
    envelope = json.loads(body)
    resource = envelope["resource"]
    steps = {
        "wechatpay_config() (settings → keys)": lambda: wechatpay_config(),
        "RSA-2048 verify (verify_signed_message)": lambda: proto.verify_signed_message(
            headers=headers, body=body, platform=config.platform
        ),
        "AES-256-GCM decrypt": lambda: proto.decrypt_resource(
            api_v3_key=config.api_v3_key,
            nonce=resource["nonce"],
            ciphertext=resource["ciphertext"],
            associated_data=resource["associated_data"],
        ),
        "JSON (envelope + resource)": lambda: (
            json.loads(
                proto.decrypt_resource(
                    api_v3_key=config.api_v3_key,
                    nonce=resource["nonce"],
                    ciphertext=resource["ciphertext"],
                    associated_data=resource["associated_data"],
                )
            )
            and json.loads(body)
        ),
        "wechatpay_parse_notify (all of the above)": lambda: wechatpay_parse_notify(headers, body),
    }
    print("Steps alone (median of 200, µs):")
    for name, fn in steps.items():
        print(f"  {_best_us(fn):9.1f}  {name}")

    rest = signed[2:]
    times = []
    profiler = cProfile.Profile()
    started = time.perf_counter()
    for one in rest:
        t0 = time.perf_counter()
        profiler.enable()
        post(*one)
        profiler.disable()
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    print(
        f"{len(rest)} notifies in {elapsed:.2f} s: median {statistics.median(times) * 1e6:.0f} µs"
        f" each, one thread, profiled"
    )
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
