from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "heatdesk.payments"
    label = "payments"
    verbose_name = "支付"
