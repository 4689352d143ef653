from heatdesk.payments import admin_counter  # noqa: F401 - registers the counter shift admin
