from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "heatdesk.sandbox"
    label = "sandbox"
    verbose_name = "沙箱"
