from django.conf import settings
from django.http import HttpRequest


def heatdesk(request: HttpRequest) -> dict[str, object]:
    return {"sandbox": settings.SANDBOX}
