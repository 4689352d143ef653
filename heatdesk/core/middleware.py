"""Keeps every answer under /api/ in the API's error format."""

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ApiMethodNotAllowedMiddleware:
    """django-ninja answers a wrong HTTP method with a plain-text 405; rewrite it as
    {code, message, fields} so clients parse one error format, keeping the Allow header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            body = {"code": "method_not_allowed", "message": "不支持该请求方法。", "fields": {}}
            rewritten = HttpResponse(
                json.dumps(body, ensure_ascii=False),
                status=405,
                content_type="application/json; charset=utf-8",
            )
            if response.has_header("Allow"):
                rewritten["Allow"] = response["Allow"]
            return rewritten
        return response
