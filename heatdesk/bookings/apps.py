from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "heatdesk.bookings"
    label = "bookings"
    verbose_name = "服务预约"
