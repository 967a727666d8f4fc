"""`Kube.watch`: one decoded event per line, whatever the line's length and however the
bytes arrive (a real HTTP server on localhost plays the API server's watch)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import kopf
import pytest
from aiohttp import web

from hopper_operator.kube.client import Kube, NotFoundError

BIG = {"type": "ADDED", "object": {"metadata": {"name": "big"}, "blob": "x" * 300_000}}
SMALL = {"type": "DELETED", "object": {"metadata": {"name": "small"}}}


async def gone(request: web.Request) -> web.Response:
    return web.json_response({"kind": "Status", "message": "not found", "code": 404}, status=404)


async def stream(request: web.Request) -> web.StreamResponse:
    assert request.query["watch"] == "1"
    response = web.StreamResponse()
    await response.prepare(request)
    data = (json.dumps(BIG) + "\n\n" + json.dumps(SMALL) + "\n").encode()
    for start in range(0, len(data), 4093):  # pieces that split lines anywhere
        await response.write(data[start : start + 4093])
    await response.write_eof()
    return response


@pytest.fixture
async def kube() -> AsyncIterator[Kube]:
    app = web.Application()
    app.router.add_get("/watched", stream)
    app.router.add_get("/gone", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    login = lambda: kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}")  # noqa: E731
    async with Kube(login) as client:
        yield client
    await runner.cleanup()


async def test_events_of_any_length_arrive_whole(kube: Kube) -> None:
    events = [event async for event in kube.watch("/watched", {"resourceVersion": "1"})]
    assert events == [BIG, SMALL]


async def test_a_refused_watch_raises_the_mapped_error(kube: Kube) -> None:
    with pytest.raises(NotFoundError):
        async for _ in kube.watch("/gone", {}):
            pass
