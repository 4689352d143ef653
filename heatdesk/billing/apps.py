from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "heatdesk.billing"
    label = "billing"
    verbose_name = "计费"
