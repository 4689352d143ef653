from django.urls import path

from bench.peer import views

urlpatterns = [
    path("peer/hello", views.hello),
    path("peer/appointments", views.book),
]
