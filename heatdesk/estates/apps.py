from django.apps import AppConfig


class EstatesConfig(AppConfig):
    name = "heatdesk.estates"
    label = "estates"
    verbose_name = "小区与房屋"
