"""The simulated Alipay business bill: a ZIP of two GBK CSVs for one Beijing day, with the
same discrepancy knobs as the WeChat Pay bill."""

import csv
import datetime as dt
import io
import zipfile
from typing import Any

from heatdesk.core import clock
from heatdesk.core.clock import SHANGHAI, local_day_start
from heatdesk.payments.providers.amounts import fen_to_yuan_str
from heatdesk.sandbox.payment_models import Provider, SandboxPaymentOrder, SandboxPaymentRefund

HEADER = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
]
PID = "2088000000000001"


def _yuan(fen: int) -> str:
    return ("-" if fen < 0 else "") + fen_to_yuan_str(abs(fen))


def _local(moment: dt.datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def bill_zip(*, app_id: str, bill_date: dt.date, inject: dict[str, Any]) -> bytes:
    """The ZIP, or b"" when the day has no trades."""
    start = local_day_start(bill_date)
    end = start + dt.timedelta(days=1)
    omit = set(inject.get("omit", []))
    amounts = {str(k): int(v) for k, v in dict(inject.get("amount", {})).items()}
    rows: list[list[str]] = []
    totals = {"交易": [0, 0], "退款": [0, 0]}

    def add(
        trade_no: str,
        no: str,
        kind: str,
        subject: str,
        created: str,
        done: str,
        fen: int,
        request_no: str,
    ) -> None:
        if no in omit:
            return
        fen = amounts.get(no, fen) * (-1 if kind == "退款" else 1)
        fee_fen = (abs(fen) * 6 + 500) // 1000  # 0.6 %, in whole fen
        fee = fee_fen if kind == "退款" else -fee_fen
        rows.append(
            [
                trade_no + "\t",
                no + "\t",
                kind + "\t",
                subject,
                created,
                done,
                "",
                "",
                "",
                "",
                "buyer@example.com",
                _yuan(fen),
                _yuan(fen),
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "",
                "0.00",
                "0.00",
                request_no + "\t",
                _yuan(fee),
                "0.00",
                subject,
            ]
        )
        totals[kind][0] += 1
        totals[kind][1] += fen

    for order in SandboxPaymentOrder.objects.filter(
        provider=Provider.ALIPAY, merchant_id=app_id, paid_at__gte=start, paid_at__lt=end
    ).order_by("paid_at", "id"):
        add(
            order.transaction_id,
            order.out_trade_no,
            "交易",
            order.description,
            _local(order.created_at),
            _local(order.paid_at),
            order.total_fen,
            "",
        )
    for extra in inject.get("extra", []):
        add(
            "2099" + extra["out_trade_no"][-16:],
            extra["out_trade_no"],
            "交易",
            "未知商品",
            _local(start),
            _local(start),
            int(extra["total_fen"]),
            "",
        )
    for refund in (
        SandboxPaymentRefund.objects.filter(
            provider=Provider.ALIPAY, merchant_id=app_id, success_at__gte=start, success_at__lt=end
        )
        .select_related("order")
        .order_by("success_at", "id")
    ):
        order = refund.order
        add(
            order.transaction_id,
            order.out_trade_no,
            "退款",
            order.description,
            _local(order.created_at),
            _local(refund.success_at),
            refund.amount_fen,
            refund.out_refund_no,
        )
    if not rows:
        return b""
    if inject.get("bad_summary"):
        totals["交易"][1] += 1
    out = io.StringIO()
    out.write("#支付宝业务明细查询\n")
    out.write(f"#账号：[{PID}0156]\n")
    next_day = bill_date + dt.timedelta(days=1)
    out.write(
        f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   "
        f"终止日期：[{next_day:%Y年%m月%d日} 00:00:00]\n"
    )
    out.write(
        "#-----------------------------------------业务明细列表----------------------------------------\n"
    )  # noqa: E501
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    out.write(
        "#-----------------------------------------业务明细列表结束------------------------------------\n"
    )  # noqa: E501
    out.write(
        f"#交易合计：{totals['交易'][0]}笔，商家实收共{_yuan(totals['交易'][1])}元，商家优惠共0.00元\n"
    )  # noqa: E501
    out.write(
        f"#退款合计：{totals['退款'][0]}笔，商家实收共{_yuan(totals['退款'][1])}元，商家优惠共0.00元\n"
    )  # noqa: E501
    out.write(f"#导出时间：[{clock.now().astimezone(SHANGHAI):%Y年%m月%d日 %H:%M:%S}]\n")
    day = f"{bill_date:%Y%m%d}"
    summary = f"#支付宝业务汇总查询\n#账号：[{PID}0156]\n交易笔数,退款笔数\n{totals['交易'][0]},{totals['退款'][0]}\n"  # noqa: E501
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{PID}0156_{day}_业务明细.csv", out.getvalue().encode("gbk"))
        archive.writestr(f"{PID}0156_{day}_业务明细(汇总).csv", summary.encode("gbk"))
    return buffer.getvalue()
