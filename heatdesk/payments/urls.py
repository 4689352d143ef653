"""Provider notify endpoints under /payments/ (WECHATPAY_NOTIFY_URL, ALIPAY_NOTIFY_URL)."""

from django.urls import path

from heatdesk.payments import views

app_name = "payments"
urlpatterns = [
    path("notify/wechatpay", views.wechatpay_notify, name="notify-wechatpay"),
    path("notify/alipay", views.alipay_notify, name="notify-alipay"),
]
