from django.urls import path

from heatdesk.resident.views import auth, houses, pages

app_name = "resident"

urlpatterns = [
    path("", houses.home, name="home"),
    path("login/", auth.login_page, name="login"),
    path("logout/", auth.logout_page, name="logout"),
    path("consent/", auth.consent_page, name="consent"),
    path("privacy/", pages.privacy, name="privacy"),
    path("houses/bind/", houses.bind, name="bind"),
    path("houses/<str:house_id>/", houses.detail, name="house"),
    path("houses/<str:house_id>/unbind/", houses.unbind, name="unbind"),
]
