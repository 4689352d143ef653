"""notify-settle: WeChat Pay's TRANSACTION.SUCCESS notifies for distinct PENDING orders, POSTed
to /payments/notify/wechatpay and settled end to end (verify the RSA signature, decrypt the
AES-GCM resource, store the notify once, settle the order, post the payment to the ledger, pay
the bill). Reported twice: against the one-row-insert endpoint (target ≥ 50 %) and against
pgbench's TPC-B-like rate (no target).

The run generates this scenario's WeChat Pay keys (`server_env`): the merchant's side goes to
the server's settings, the platform's private key stays in the work directory, where the check
uses it — the way the sandbox simulator signs (`wechatpay_protocol.encrypt_resource` and
`sign_response`) — to sign every notify just before the load, since WeChat Pay's five-minute
timestamp window would not cover the whole run. wrk only replays the signed requests, one per
order, in order (bench/lua/notify_settle.lua).
"""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.scenarios import Context, HttpLoad, register
from bench.scenarios.notify_settle_data import CHECK_FILE, ORDERS_FILE, TALLY_FILE

PATH = "/payments/notify/wechatpay"
KEYS_DIR = "wechatpay-keys"
REQUESTS_FILE = "notify-settle.requests"
MCHID = "1900000001"
APPID = "wxbench0000000001"
CHECK_ORDERS = 2  # the first orders are the check's; the load starts after them
WRK_THREADS = 2  # bench.load.run_wrk's default


def _keys(workdir: Path) -> Any:
    from heatdesk.payments.providers.devkeys import dev_keys

    return dev_keys(workdir / KEYS_DIR)


def server_env(workdir: Path) -> dict[str, str]:
    """The merchant's WeChat Pay settings for this run (public-key mode), fresh keys each run."""
    from heatdesk.payments.providers.keys import private_key_pem, public_key_pem

    keys = _keys(workdir)
    return {
        "WECHATPAY_MCHID": MCHID,
        "WECHATPAY_APPID": APPID,
        "WECHATPAY_API_V3_KEY": keys.wechatpay_api_v3_key,
        "WECHATPAY_PRIVATE_KEY": private_key_pem(keys.wechatpay_merchant_key),
        "WECHATPAY_CERT_SERIAL": keys.wechatpay_merchant_serial,
        "WECHATPAY_PLATFORM_PUBLIC_KEY": public_key_pem(keys.wechatpay_platform_key.public_key()),
        "WECHATPAY_PLATFORM_PUBLIC_KEY_ID": keys.wechatpay_platform_public_key_id,
    }


def _envelope(order: dict[str, Any], *, api_v3_key: str, now: float) -> bytes:
    """The body WeChat Pay posts for a paid order (the simulator's shape, encrypted)."""
    import datetime as dt
    import uuid

    from heatdesk.payments.providers import wechatpay_protocol as proto

    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    resource = {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": order["out_trade_no"],
        "transaction_id": order["transaction_id"],
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": proto.format_time(moment),
        "payer": {"openid": "o-bench-payer"},
        "amount": {
            "total": order["amount_fen"],
            "payer_total": order["amount_fen"],
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    envelope = {
        "id": f"EV-{uuid.uuid4()}",
        "create_time": proto.format_time(moment),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            **proto.encrypt_resource(
                api_v3_key=api_v3_key,
                plaintext=json.dumps(resource, ensure_ascii=False).encode("utf-8"),
                associated_data="transaction",
            ),
        },
    }
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


def _sign_chunk(workdir: str, orders: list[dict[str, Any]]) -> list[tuple[dict[str, str], bytes]]:
    from heatdesk.payments.providers import wechatpay_protocol as proto

    keys = _keys(Path(workdir))
    signed = []
    for order in orders:
        now = time.time()
        body = _envelope(order, api_v3_key=keys.wechatpay_api_v3_key, now=now)
        headers = proto.sign_response(
            body=body,
            private_key=keys.wechatpay_platform_key,
            serial=keys.wechatpay_platform_public_key_id,
            timestamp=str(int(now)),
        )
        signed.append((headers, body))
    return signed


def sign_all(workdir: Path) -> list[tuple[dict[str, str], bytes]]:
    """Every order's notify, signed now; two processes share the RSA work."""
    orders = [json.loads(x) for x in (workdir / ORDERS_FILE).read_text().splitlines() if x]
    half = len(orders) // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = pool.map(_sign_chunk, [str(workdir)] * 2, [orders[:half], orders[half:]])
        return [signed for part in parts for signed in part]


def _line(headers: dict[str, str], body: bytes) -> bytes:
    fields = [headers[k].encode() for k in ("Wechatpay-Timestamp", "Wechatpay-Nonce")]
    fields += [headers[k].encode() for k in ("Wechatpay-Signature", "Wechatpay-Serial")]
    return b"\t".join([*fields, body]) + b"\n"


def _post(ctx: Context, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only (checked by the harness)
        ctx.base_url + PATH,
        data=body,
        method="POST",
        headers={**headers, "Content-Type": "application/json", "User-Agent": "Mozilla/4.0"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _check(ctx: Context) -> None:
    """Sign the notifies, then: a notify → 200 (empty); the same bytes again → 200; a notify
    whose body was altered after signing → 400 and nothing credited; a second order → 200."""
    started = time.monotonic()
    signed = sign_all(ctx.workdir)
    took = time.monotonic() - started
    print(f"   signed {len(signed):,} notifies in {took:.1f} s", flush=True)
    (first_headers, first_body), (second_headers, second_body) = signed[:CHECK_ORDERS]
    answers = [
        _post(ctx, first_headers, first_body),
        _post(ctx, first_headers, first_body),
        _post(ctx, second_headers, second_body.replace(b'"summary"', b'"Summary"', 1)),
        _post(ctx, second_headers, second_body),
    ]
    statuses = [status for status, _ in answers]
    if statuses != [200, 200, 400, 200] or answers[0][1]:
        raise RuntimeError(f"notify-settle: the check's notifies were answered {answers!r}")
    (ctx.workdir / CHECK_FILE).write_text(json.dumps({"settled": CHECK_ORDERS, "refused": 1}))
    with (ctx.workdir / REQUESTS_FILE).open("wb") as out:
        for headers, body in signed[CHECK_ORDERS:]:
            out.write(_line(headers, body))


def _args(ctx: Context) -> tuple[str, ...]:
    return (
        str(ctx.workdir / REQUESTS_FILE),
        str(ctx.workdir / TALLY_FILE),
        str(WRK_THREADS),
    )


register(
    HttpLoad(
        name="notify-settle",
        description="POST /payments/notify/wechatpay, a signed notify for a distinct order each",
        path=PATH,
        script="notify_settle.lua",
        script_args=_args,
        check=_check,
        ceiling="row-insert",
        target=0.50,
        # 16, not 64: the server has 8 threads, so more connections only queue, and a notify
        # queued past wrk's 2 s timeout would count as an error instead of a slow answer.
        connections=16,
        data_module="bench.scenarios.notify_settle_data",
        server_env=server_env,
        also_against=(("notify-settle-pgbench", "pgbench-tpcb"),),
    )
)
