from django.apps import AppConfig


class ResidentConfig(AppConfig):
    name = "heatdesk.resident"
    label = "resident"
    verbose_name = "Resident pages"
