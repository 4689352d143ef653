"""Payments: providers (WeChat Pay API v3, Alipay RSA2), notifications; orders, settlement,
refunds, janitor and reconciliation are built on top of this layer.

What the order/settlement layer uses:

- `providers.config.wechatpay_client()` / `alipay_client()`: clients keyed from settings.
- WeChat: build the body once with `wechatpay_client.jsapi_order_body(...)` (or
  `native_order_body`, `refund_body`), persist the bytes with the attempt, then
  `create_jsapi_order(body)` → prepay_id and `jsapi_pay_params(prepay_id)` for the mini-program;
  replay the same bytes after a timeout. `query_order`, `close_order`, `create_refund`,
  `query_refund`, `request_trade_bill` + `download_trade_bill` (SHA-1 checked) and
  `wechatpay_bill.parse_trade_bill` / `check_summary`.
- Alipay: `precreate`, `wap_pay_url`, `query`, `close`, `refund` (same out_request_no and amount
  on retry), `refund_query`, `bill_download_url` + `download_bill` and
  `alipay_bill.parse_bill_zip`.
- Errors (`providers.errors`): `ProviderRefused` (definitive: `code`, `retryable`),
  `ProviderOutcomeUnknown` and its `ProviderTimeout` (may have happened: keep the number, query
  or replay), never a bare success on an unverified answer.
- Notifies (`notify`): `wechatpay_parse_notify(headers, raw_body)` and
  `alipay_parse_notify(form)` → `VerifiedNotify`, or `NotifyRejected` (answer 4xx / not
  `success`). Dedupe on `VerifiedNotify.event_id`; match out_trade_no and amount_fen yourself.
"""
