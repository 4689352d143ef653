"""URLs of the payment simulators (included from the sandbox URLconf, sandbox mode only).

The WeChat Pay paths are the real API's paths under /sandbox/wechatpay; Alipay's gateway is
/sandbox/alipay/gateway.do.
"""

from django.urls import path

from heatdesk.sandbox import cashier
from heatdesk.sandbox.alipay import views as alipay
from heatdesk.sandbox.wechatpay import views as wechatpay

WX = "wechatpay/v3/"

urlpatterns = [
    path(f"{WX}pay/transactions/jsapi", wechatpay.jsapi, name="wechatpay-jsapi"),
    path(f"{WX}pay/transactions/native", wechatpay.native, name="wechatpay-native"),
    path(
        f"{WX}pay/transactions/out-trade-no/<str:out_trade_no>/close",
        wechatpay.close,
        name="wechatpay-close",
    ),
    path(
        f"{WX}pay/transactions/out-trade-no/<str:out_trade_no>",
        wechatpay.query_by_out_trade_no,
        name="wechatpay-query",
    ),
    path(
        f"{WX}pay/transactions/id/<str:transaction_id>",
        wechatpay.query_by_transaction_id,
        name="wechatpay-query-id",
    ),
    path(f"{WX}refund/domestic/refunds", wechatpay.refunds, name="wechatpay-refunds"),
    path(
        f"{WX}refund/domestic/refunds/<str:out_refund_no>",
        wechatpay.refund_query,
        name="wechatpay-refund-query",
    ),
    path(f"{WX}bill/tradebill", wechatpay.tradebill, name="wechatpay-tradebill"),
    path(f"{WX}billdownload/file", wechatpay.billdownload, name="wechatpay-billdownload"),
    path(f"{WX}certificates", wechatpay.certificates, name="wechatpay-certificates"),
    path("wechatpay/request-payment", wechatpay.request_payment, name="wechatpay-request-payment"),
    path("alipay/gateway.do", alipay.gateway, name="alipay-gateway"),
    path("alipay/downloadBillFile.resource", alipay.bill_file, name="alipay-bill-file"),
    path("pay/", cashier.cashier_list, name="cashier-list"),
    path("pay/<str:public_id>/", cashier.cashier, name="cashier"),
    path("payments/knobs", cashier.control_knobs, name="payments-knobs"),
    path(
        "payments/refunds/<str:provider>/<str:out_refund_no>/settle",
        cashier.control_refund_settle,
        name="payments-refund-settle",
    ),
    path("payments/notifies/deliver", cashier.control_deliver, name="payments-deliver"),
]
