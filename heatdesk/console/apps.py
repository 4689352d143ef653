from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "heatdesk.console"
    label = "console"
    verbose_name = "员工工作台"
