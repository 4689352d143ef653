from django.urls import path

from bench.app.views import api

urlpatterns = [path("", api.urls)]
