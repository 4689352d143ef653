from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "heatdesk.core"
    label = "core"
    verbose_name = "Core"
