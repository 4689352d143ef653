"""The simulated WeChat Pay trade bill: the backtick CSV of one Beijing day, with knobs for
injected discrepancies (omitted rows, wrong amounts, rows we never saw, a bad summary)."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from heatdesk.core.clock import SHANGHAI, local_day_start
from heatdesk.payments.providers.amounts import fen_to_yuan_str
from heatdesk.sandbox.payment_models import Provider, SandboxPaymentOrder, SandboxPaymentRefund

FEE_RATE = Decimal("0.006")
ALL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
SUCCESS_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
)
SUMMARY_HEADER = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def _fee(fen: int) -> Decimal:
    return (Decimal(fen) * FEE_RATE / 100).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def trade_bill(*, mchid: str, bill_date: dt.date, bill_type: str, inject: dict[str, Any]) -> bytes:
    """The bill file (UTF-8, uncompressed), or b"" when the day has no trades."""
    start = local_day_start(bill_date)
    end = start + dt.timedelta(days=1)
    omit = set(inject.get("omit", []))
    amounts = {str(k): int(v) for k, v in dict(inject.get("amount", {})).items()}
    records: list[dict[str, Any]] = []
    if bill_type in ("ALL", "SUCCESS"):
        for paid in SandboxPaymentOrder.objects.filter(
            provider=Provider.WECHATPAY, merchant_id=mchid, paid_at__gte=start, paid_at__lt=end
        ).order_by("paid_at", "id"):
            records.append(
                {"kind": "pay", "order": paid, "at": paid.paid_at, "fen": paid.total_fen}
            )
        for extra in inject.get("extra", []):
            records.append(
                {
                    "kind": "extra",
                    "no": extra["out_trade_no"],
                    "at": start,
                    "fen": int(extra["total_fen"]),
                }
            )
    if bill_type in ("ALL", "REFUND"):
        for refund in (
            SandboxPaymentRefund.objects.filter(
                provider=Provider.WECHATPAY,
                merchant_id=mchid,
                created_at__gte=start,
                created_at__lt=end,
            )
            .select_related("order")
            .order_by("created_at", "id")
        ):
            records.append(
                {
                    "kind": "refund",
                    "refund": refund,
                    "order": refund.order,
                    "at": refund.created_at,
                    "fen": refund.amount_fen,
                }
            )
    lines = [ALL_HEADER if bill_type != "SUCCESS" else SUCCESS_HEADER]
    settlement = refunds = orders_total = 0
    fees = Decimal(0)
    count = 0
    for record in records:
        order: SandboxPaymentOrder | None = record.get("order")
        no = order.out_trade_no if order is not None else record["no"]
        if no in omit:
            continue
        fen = amounts.get(no, record["fen"])
        appid = order.appid if order is not None else "wx-unknown-app"
        transaction_id = order.transaction_id if order is not None else "4200000000999" + no[-8:]
        common = [
            _local(record["at"]),
            appid,
            mchid,
            "0",
            "",
            transaction_id,
            no,
            (order.payer_id if order is not None else "o-unknown") or "o-native",
            "JSAPI",
        ]
        subject = order.description if order is not None else "未知商品"
        attach = order.attach if order is not None else ""
        if record["kind"] == "refund":
            refund = record["refund"]
            fee = -_fee(fen)
            fields = common + [
                "REFUND",
                "OTHERS",
                "CNY",
                "0.00",
                "0.00",
                refund.refund_id,
                refund.out_refund_no,
                fen_to_yuan_str(fen),
                "0.00",
                "ORIGINAL",
                refund.status,
                subject,
                attach,
                f"{fee:.5f}",
                "0.60%",
                "0.00",
                fen_to_yuan_str(fen),
                "",
            ]
            refunds += fen
        else:
            fee = _fee(fen)
            if bill_type == "SUCCESS":
                fields = common + [
                    "SUCCESS",
                    "OTHERS",
                    "CNY",
                    fen_to_yuan_str(fen),
                    "0.00",
                    subject,
                    attach,
                    f"{fee:.5f}",
                    "0.60%",
                    fen_to_yuan_str(fen),
                    "",
                ]
            else:
                fields = common + [
                    "SUCCESS",
                    "OTHERS",
                    "CNY",
                    fen_to_yuan_str(fen),
                    "0.00",
                    "0",
                    "0",
                    "0.00",
                    "0.00",
                    "",
                    "",
                    subject,
                    attach,
                    f"{fee:.5f}",
                    "0.60%",
                    fen_to_yuan_str(fen),
                    "0.00",
                    "",
                ]
            settlement += fen
            orders_total += fen
        fees += fee
        count += 1
        lines.append(",".join("`" + f for f in fields))
    if count == 0:
        return b""
    if inject.get("bad_summary"):
        settlement += 1
    lines.append(SUMMARY_HEADER)
    lines.append(
        ",".join(
            "`" + f
            for f in [
                str(count),
                fen_to_yuan_str(settlement),
                fen_to_yuan_str(refunds),
                "0.00",
                f"{fees:.5f}",
                fen_to_yuan_str(orders_total),
                fen_to_yuan_str(refunds),
            ]
        )
    )
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
