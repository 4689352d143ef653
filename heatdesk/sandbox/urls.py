from django.urls import path

from heatdesk.sandbox import views
from heatdesk.sandbox.payment_urls import urlpatterns as payment_urlpatterns

app_name = "sandbox"

urlpatterns = [
    path("sms/", views.sms_inbox, name="sms-inbox"),
    path("wechat/sns/jscode2session", views.jscode2session, name="jscode2session"),
]

# The payment simulators (WeChat Pay v3, Alipay), their cashier page and test controls.
urlpatterns += payment_urlpatterns
