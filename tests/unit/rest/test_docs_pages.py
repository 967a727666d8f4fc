"""/docs and /redoc work in a cluster without internet access: their pages name no host but
the API's own, and every script, stylesheet, icon and document they load is served here."""

from __future__ import annotations

import re

import httpx
import pytest

from hopper_operator.rest.app import create_app

HOST = re.compile(r"(?:\w+:)?//[\w.-]+")  # https://cdn.example and //cdn.example alike
# What a page loads: src= and href= of its tags, ReDoc's spec-url=, Swagger UI's `url:`.
REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_page_and_all_it_loads_come_from_the_api_itself(page: str) -> None:
    app = create_app(None, namespace="ns")  # type: ignore[arg-type]  # no request reaches it
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        answer = await client.get(page)
        assert answer.status_code == 200
        html = answer.text
        assert HOST.findall(html) == []
        loaded = [a or b for a, b in REFERENCE.findall(html)]
        assert {url.rsplit(".", 1)[-1] for url in loaded} >= {"js", "png", "json"}
        for url in loaded:
            assert url.startswith("/"), url  # a path on this very server
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url
