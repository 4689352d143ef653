from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "heatdesk.notifications"
    label = "notifications"
    verbose_name = "消息通知"
