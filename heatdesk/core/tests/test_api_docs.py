"""The interactive API docs load everything from this server: no CDN at run time."""

import re

from django.contrib.staticfiles import finders
from django.test import Client


def test_the_docs_page_loads_swagger_from_our_own_static_files(db):
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "cdn.jsdelivr.net" not in page
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert {"/static/ninja/swagger-ui-bundle.js", "/static/ninja/swagger-ui.css"} <= set(assets)
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "/api/v1/openapi.json" in page
