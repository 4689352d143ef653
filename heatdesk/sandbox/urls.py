from django.urls import path

from heatdesk.sandbox import views

app_name = "sandbox"

urlpatterns = [
    path("sms/", views.sms_inbox, name="sms-inbox"),
    path("wechat/sns/jscode2session", views.jscode2session, name="jscode2session"),
]
