"""Streamable HTTP at /mcp, in the REST API's process: its port, TLS, store and gate.

Stateless: every POST is served whole by the replica it reaches (no session that only one
replica knows), so two replicas behind a Service serve one client. Following an instance
over HTTP is `subscriptions/listen` (2026-07-28), whose stream is the response to one
request; the handshake-era `resources/subscribe` needs a session this mode does not keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from fastapi import FastAPI
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from hopper_operator.mcpface.follow import Followers
from hopper_operator.mcpface.identity import Bearer
from hopper_operator.mcpface.server import Context, Face, build
from hopper_operator.mcpface.source import InformerSource

PATH = "/mcp"


@dataclass(frozen=True)
class HttpSettings:
    read_only: bool = False
    max_subscriptions: int = 100  # open subscriptions/listen streams on this replica


class Endpoint:
    """/mcp: a request without a bearer token is answered 401 before any MCP is read;
    one with a token is judged per tool call (`identity.Bearer`)."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or ())
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _unauthenticated(send)
            return
        # The SDK's stateless JSON answer waits for the tool with no ear on the connection:
        # a client that hangs up would leave its call (a wait of minutes) running.
        client = Hangup(receive)
        with client.request:
            try:
                await self.manager.handle_request(scope, client.receive, client.sending(send))
            finally:
                client.close()


class Hangup:
    """The request's one reader of the client's messages once its body is in: a hang-up
    cancels the request (the SDK then ends the transport, and with it the tool's task), and
    is passed on to whoever in the SDK listens for it (a streamed answer does)."""

    def __init__(self, receive: Receive) -> None:
        self.request = anyio.CancelScope()
        self._receive = receive
        self._gone = anyio.Event()
        self._watching: asyncio.Task[None] | None = None  # once the body is in
        self._answered = False  # the ASGI server says "disconnect" once the answer is out

    async def receive(self) -> Message:
        if self._watching is not None:
            await self._gone.wait()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._gone.set()
        elif not message.get("more_body", False):
            # A plain task, not a task group's: this runs for every request, and the
            # group's bookkeeping costs more than the rest of this endpoint.
            self._watching = asyncio.create_task(self._watch())
        return message

    def sending(self, send: Send) -> Send:
        async def sent(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._answered = True

        return sent

    def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self._gone.set()
        if not self._answered:  # else the request is ending anyway: no need to unwind it
            self.request.cancel()


async def _unauthenticated(send: Send) -> None:
    body = json.dumps({"detail": "Not authenticated"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def mounted(
    app: FastAPI, stopping: asyncio.Event, settings: HttpSettings
) -> AsyncIterator[None]:
    """Serve /mcp on `app` for as long as this lasts; listen streams end at `stopping`."""

    def identify(ctx: Context) -> Bearer:
        request = ctx.request
        authorization = request.headers.get("authorization") if request is not None else None
        return Bearer(app.state.gate, authorization)

    # Followed on the REST cache's own list-watch: one per namespace in the process.
    source = InformerSource(app.state.informers)
    followers = Followers(source, max_subscriptions=settings.max_subscriptions)
    face = Face(app.state.store, app.state.namespace, identify, followers, settings.read_only)
    # JSON answers: 0.8 ms less per call than a one-event SSE stream each (bench/RESULTS.md);
    # a subscriptions/listen answer streams all the same.
    manager = StreamableHTTPSessionManager(build(face), stateless=True, json_response=True)
    app.router.routes.append(Route(PATH, Endpoint(manager), methods=["GET", "POST", "DELETE"]))
    ending = asyncio.create_task(_end_streams(stopping, followers))
    try:
        async with manager.run():
            yield
    finally:
        ending.cancel()
        await followers.close()


async def _end_streams(stopping: asyncio.Event, followers: Followers) -> None:
    await stopping.wait()
    followers.listen.close()
