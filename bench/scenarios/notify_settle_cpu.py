"""CPU per settled notify beside the one-row insert, in-process: the notify-settle counterpart
of `houses_cpu`, a figure a busy machine disturbs much less than requests per wall second.
Not a registered scenario (nothing here runs on import).

    python -m bench.scenarios.notify_settle_cpu [--requests 300] [--rounds 3]

Run it on a bench database prepared by a notify-settle run (`DATABASE_URL`, default
heatdesk_bench); each notify settles one of the scenario's PENDING orders for real. It signs
one WeChat Pay notify per order first (fresh keys, as `notify_settle_profile` does), then sends
`POST /bench/writes` and the notifies through Django's test client in one thread, reading the
CPU time of this process and of its PostgreSQL backend (/proc/<pid>/stat, same machine). At
saturation throughput is about inversely proportional to CPU per request, so row-insert CPU ÷
notify CPU estimates the HTTP ratio, without the server's and wrk's share (the same for both)
and without the WAL flush, which is waiting, not CPU (group commit shares it).
"""

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.cpu import cpu_per_call
from bench.scenarios.notify_settle_data import COMMUNITY
from bench.scenarios.notify_settle_profile import _environment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="notifies per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="heatdesk-notify-cpu-"))
    _environment(workdir)
    import django

    django.setup()
    from django.test import Client

    from bench.scenarios.notify_settle import PATH, _sign_chunk
    from heatdesk.payments.models import PaymentOrder

    warm = 50
    wanted = warm + args.requests * args.rounds
    pending = list(
        PaymentOrder.objects.filter(
            status=PaymentOrder.Status.PENDING,
            items__house__unit__building__community__code=COMMUNITY,
        )
        .order_by("id")
        .values("out_trade_no", "amount_fen")[:wanted]
    )
    if len(pending) < wanted:
        raise SystemExit(f"only {len(pending)} PENDING bench orders left: run the bench again")
    stamp, run = time.strftime("%Y%m%d"), secrets.randbelow(10**7)
    signed = _sign_chunk(
        str(workdir),
        [{**o, "transaction_id": f"42008{stamp}{run:07d}{n:08d}"} for n, o in enumerate(pending)],
    )
    client = Client()

    def notify(i: int) -> None:
        headers, body = signed[i]
        answer = client.generic(
            "POST", PATH, body, content_type="application/json", headers=headers
        )
        if answer.status_code != 200:
            raise SystemExit(f"{PATH} answered {answer.status_code}: {answer.content!r}")

    def row_insert(i: int) -> None:
        body = f'{{"ext_txn_id":"cpu-{run}-{i}","account_id":{i % 1000 + 1},"amount_fen":12345}}'
        answer = client.post("/bench/writes", body, content_type="application/json")
        if answer.status_code != 200:
            raise SystemExit(f"/bench/writes answered {answer.status_code}")

    def measure(call: Callable[[int], None], start: int) -> tuple[float, float]:
        return cpu_per_call(
            call, first=start, warm=warm, rounds=args.rounds, requests=args.requests
        )

    results = {"row-insert": measure(row_insert, 10**6), "notify-settle": measure(notify, 0)}
    for name, (py, pg) in results.items():
        print(f"{name:14s} {py:7.0f} µs Python + {pg:5.0f} µs PostgreSQL = {py + pg:7.0f} µs CPU")
    ratio = sum(results["row-insert"]) / sum(results["notify-settle"])
    print(f"RESULT cpu_ratio={ratio:.3f}  (row-insert CPU / notify-settle CPU per request)")


if __name__ == "__main__":
    main()
