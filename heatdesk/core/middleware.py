"""Request guards that keep every answer under /api/ in the API's error format."""

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


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


NUL = "\x00"


class RefuseNulCharactersMiddleware:
    """Refuse a request carrying U+0000 in its path, its query or (under /api/) a JSON string,
    before any view sees it: PostgreSQL text cannot hold the character, so a lookup or a write
    with it would fail as a server error. Django's forms refuse it by themselves; the API's
    schemas and the path converters do not. Answered 400 in the API's error format."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_in(request)
        if where is None:
            return self.get_response(request)
        message = "请求中含有无效字符（空字符）。"
        if not request.path.startswith("/api/"):
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        body = {"code": "invalid_characters", "message": message, "fields": {where: [message]}}
        return HttpResponse(
            json.dumps(body, ensure_ascii=False),
            status=400,
            content_type="application/json; charset=utf-8",
        )


def _nul_in(request: HttpRequest) -> str | None:
    """Where the request carries U+0000: "path", a query parameter's name, "body", or None."""
    if NUL in request.path_info:
        return "path"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return name.replace(NUL, "") or "query"
    if (
        request.path.startswith("/api/")
        and request.content_type == "application/json"
        and (b"\x00" in request.body or b"\\u0000" in request.body)
    ):
        try:
            parsed = json.loads(request.body)
        except ValueError:
            return None  # not JSON at all: the API's parser refuses it in its own words
        if _holds_nul(parsed):
            return "body"
    return None


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False
