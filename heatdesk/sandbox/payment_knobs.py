"""Test knobs for the payment simulators, set globally or per order/refund number.

| knob | effect |
| --- | --- |
| `notify_delay` | seconds before the first delivery of a notify |
| `notify_duplicate` | deliver each notify this many extra times (same event id) |
| `notify_reorder` | hold the notify back until the next one has been delivered |
| `notify_drop` | never deliver the notify |
| `notify_signtest` | WeChat Pay: send a WECHATPAY/SIGNTEST/ probe (broken signature) first |
| `timeout_after_create` | seconds to stall after committing a create, before answering |
| `fail_after_create` | answer a create with 500 SYSTEM_ERROR after committing it |
| `fail_query` | answer an order query with 500 SYSTEM_ERROR (Alipay: 20000 isp.unknow-error) |
| `refund_processing` | keep refunds PROCESSING (Alipay: fund_change N, no REFUND_SUCCESS) |
| `retry_scale` | multiply the providers' notify retry schedules (global; 0.001 in tests) |
| `wechatpay_notify_mode` | `public_key` (default) or `certificate`: how notifies are signed |
| `bill_same_day` | serve today's bill (real providers only serve it from D+1) |
| `bill` | discrepancies to inject in bill files (below) |

`bill` is {"omit": [out_trade_no…], "amount": {out_trade_no: fen}, "extra": [{"out_trade_no",
"total_fen"}], "bad_hash": true, "bad_summary": true}: rows left out (短款), amounts changed,
payments HeatDesk never saw (长款), a WeChat SHA-1 that does not match, a summary that does not
add up.

A per-order knob wins over the global one. Knobs live in the database so that every process of
a `make run` sees them, and tests set them with `knobs_set`.
"""

from typing import Any

from heatdesk.sandbox.payment_models import SandboxPaymentKnob

GLOBAL = "global"
KNOWN = frozenset(
    {
        "notify_delay",
        "notify_duplicate",
        "notify_reorder",
        "notify_drop",
        "notify_signtest",
        "timeout_after_create",
        "fail_after_create",
        "fail_query",
        "refund_processing",
        "retry_scale",
        "wechatpay_notify_mode",
        "bill_same_day",
        "bill",
    }
)


def scope_for(*, out_trade_no: str = "", out_refund_no: str = "") -> str:
    if out_trade_no:
        return f"order:{out_trade_no}"
    if out_refund_no:
        return f"refund:{out_refund_no}"
    return GLOBAL


def knobs_set(*, out_trade_no: str = "", out_refund_no: str = "", **values: Any) -> None:
    """Set knobs for one order, one refund, or (neither given) globally; None removes one."""
    unknown = set(values) - KNOWN
    if unknown:
        raise ValueError(f"unknown sandbox knob(s): {', '.join(sorted(unknown))}")
    scope = scope_for(out_trade_no=out_trade_no, out_refund_no=out_refund_no)
    knob, _ = SandboxPaymentKnob.objects.get_or_create(scope=scope)
    merged = {**knob.values, **values}
    knob.values = {k: v for k, v in merged.items() if v is not None}
    knob.save(update_fields=["values"])


def knobs_reset() -> None:
    SandboxPaymentKnob.objects.all().delete()


def knob(name: str, default: Any = None, *, out_trade_no: str = "", out_refund_no: str = "") -> Any:
    """The knob's value for this order/refund, else the global one, else `default`."""
    scopes = [scope_for(out_trade_no=out_trade_no, out_refund_no=out_refund_no), GLOBAL]
    found = {k.scope: k.values for k in SandboxPaymentKnob.objects.filter(scope__in=scopes)}
    for scope in scopes:
        if name in found.get(scope, {}):
            return found[scope][name]
    return default
