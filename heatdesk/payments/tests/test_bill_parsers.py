"""Bill-file parsers on files laid out as the providers' real ones are (reference §1.9, §2.6)."""

import io
import zipfile

import pytest

from heatdesk.payments.providers.alipay_bill import parse_bill_zip, parse_detail_csv
from heatdesk.payments.providers.wechatpay_bill import (
    BillFormatError,
    check_summary,
    parse_trade_bill,
)

WECHAT_ALL = (
    "\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2024-07-09 10:06:33,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360202407091150650780,"
    "`5622334254839656448,`oVgf123,`JSAPI,`SUCCESS,`OTHERS,`CNY,`60.00,`0.00,`0,`0,`0.00,`0.00,`,`,"
    "`采暖费,`,`0.32000,`0.54%,`60.00,`0.00,`\r\n"
    "`2024-07-09 16:47:58,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002166202406250324636876,"
    "`5617363390111199232,`oVgf123,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,"
    "`50302709992024070991956632208,`5622435300878286848,`50.00,`0.00,`ORIGINAL,`SUCCESS,`采暖费,`,"
    "`-0.27000,`0.54%,`0.00,`50.00,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`60.00,`50.00,`0.00,`0.05000,`60.00,`50.00\r\n"
)


def test_a_wechat_bill_is_read_by_header_name_into_fen():
    bill = parse_trade_bill(WECHAT_ALL.encode())
    payment, refund = bill.rows
    assert (payment.out_trade_no, payment.trade_state, payment.settlement_fen) == (
        "5622334254839656448",
        "SUCCESS",
        6000,
    )
    assert (refund.trade_state, refund.refund_fen, refund.out_refund_no, refund.fee) == (
        "REFUND",
        5000,
        "5622435300878286848",
        "-0.27000",
    )
    assert payment.raw["费率备注"] == ""
    assert (bill.summary.count, bill.summary.settlement_total_fen) == (2, 6000)
    check_summary(bill)


def test_a_wechat_summary_that_does_not_add_up_is_caught():
    bill = parse_trade_bill(WECHAT_ALL.replace("`2,`60.00", "`2,`60.01").encode())
    with pytest.raises(BillFormatError, match="应结订单总金额"):
        check_summary(bill)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("`60.00,`0.00,`0,", "`60.0,`0.00,`0,"), "two decimals"),
        (("`采暖费,`,`0.32000", "`采暖,费,`,`0.32000"), "fields"),
        (("总交易单数", "合计"), "summary"),
    ],
)
def test_a_malformed_wechat_bill_is_refused_with_the_reason(change, message):
    with pytest.raises(BillFormatError, match=message):
        parse_trade_bill(WECHAT_ALL.replace(*change).encode())


ALIPAY_DETAIL = (
    "#支付宝业务明细查询\n#账号：[20880000000000000156]\n"
    "#起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]\n"
    "#-----------------------------------------业务明细列表----------------------------------------\n"
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注\n"
    "2019091622001458860515315453\t,service_1568601259302\t,交易\t,下单测试,2019-09-16 10:55:16,"
    "2019-09-16 10:55:23,,,,,buyer,0.01,0.01,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,\t,0.00,0.00,"
    "下单测试\n"
    "2019091622001458860515315453\t,service_1568601259302\t,退款\t,下单测试,2019-09-16 10:55:16,"
    "2019-09-16 10:56:48,,,,,buyer,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,"
    "re_test_1568602607356\t,0.00,0.00,下单测试\n"
    "#-----------------------------------------业务明细列表结束------------------------------------\n"
    "#交易合计：1笔，商家实收共0.01元，商家优惠共0.00元\n"
    "#退款合计：1笔，商家实收共-0.01元，商家优惠共0.00元\n"
)


def test_an_alipay_bill_zip_of_gbk_csv_is_read_into_fen():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20880000000000000156_20190916_业务明细.csv", ALIPAY_DETAIL.encode("gbk"))
        archive.writestr("20880000000000000156_20190916_业务明细(汇总).csv", "#x\n".encode("gbk"))
    bill = parse_bill_zip(buffer.getvalue())
    payment, refund = bill.rows
    assert (payment.trade_no, payment.out_trade_no, payment.kind, payment.amount_fen) == (
        "2019091622001458860515315453",
        "service_1568601259302",
        "交易",
        1,
    )
    assert (refund.kind, refund.amount_fen, refund.out_request_no) == (
        "退款",
        -1,
        "re_test_1568602607356",
    )
    assert (bill.trade_count, bill.trade_received_fen, bill.refund_received_fen) == (1, 1, -1)


def test_a_broken_alipay_bill_is_refused():
    with pytest.raises(BillFormatError, match="ZIP"):
        parse_bill_zip(b"not a zip")
    with pytest.raises(BillFormatError, match="two decimals"):
        parse_detail_csv(ALIPAY_DETAIL.replace(",0.01,0.01,", ",0.011,0.01,"))
