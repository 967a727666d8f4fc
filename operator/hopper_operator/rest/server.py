"""Serve the Instance API with uvicorn: HTTPS, or plain HTTP for development and tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import kopf
import uvicorn
from fastapi import FastAPI

from hopper_operator.kube.client import Kube, connection_info
from hopper_operator.rest.app import create_app
from hopper_operator.rest.stream import Streams, StreamSettings

GRACE = 10  # seconds uvicorn waits for requests under way at shutdown, then cancels them


@dataclass(frozen=True)
class ApiSettings:
    namespace: str  # what /api/v1/instances serves
    address: str = "0.0.0.0"
    port: int = 8443
    cert_dir: str | None = None  # tls.crt and tls.key; None: the context given, or plain
    stream: StreamSettings = field(default_factory=StreamSettings)


def uvicorn_config(
    settings: ApiSettings, app: FastAPI, tls: ssl.SSLContext | None
) -> uvicorn.Config:
    cert = key = None
    if settings.cert_dir:
        cert, key = (str(Path(settings.cert_dir, f)) for f in ("tls.crt", "tls.key"))
    config = uvicorn.Config(
        app,
        host=settings.address,
        port=settings.port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        lifespan="off",
        access_log=False,  # the middleware counts every request; the routes log who wrote
        log_config=None,  # the process' logging, as the operator configures it
        server_header=False,
        timeout_graceful_shutdown=GRACE,
    )
    config.load()
    if tls is not None and cert is None:
        config.ssl = tls  # a generated certificate, made in memory (uvicorn reads files)
    return config


# Another face served beside the routes (the MCP endpoint): mounted on the app for as long
# as its context lasts; `stopping` is set when the server begins to shut down (its
# long-lived streams end then, or the shutdown would wait for them).
AddOn = Callable[[FastAPI, asyncio.Event], AbstractAsyncContextManager[None]]


class Server(uvicorn.Server):
    """uvicorn's server, ending the app's event streams as it shuts down (and setting
    `stopping`, for the add-ons' own): it waits for the responses under way, and a stream
    would not end on its own."""

    def __init__(
        self, config: uvicorn.Config, streams: Streams, stopping: asyncio.Event | None = None
    ) -> None:
        super().__init__(config)
        self.streams, self.stopping = streams, stopping or asyncio.Event()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.streams.close()
        self.stopping.set()
        await super().shutdown(sockets)


def server_for(
    settings: ApiSettings,
    app: FastAPI,
    tls: ssl.SSLContext | None,
    stopping: asyncio.Event | None = None,
) -> Server:
    return Server(uvicorn_config(settings, app, tls), app.state.streams, stopping)


async def serve(
    settings: ApiSettings,
    *,
    tls: ssl.SSLContext | None,
    login: Callable[[], kopf.ConnectionInfo] = connection_info,
    add_ons: Sequence[AddOn] = (),
) -> None:
    """Until SIGINT or SIGTERM (uvicorn's own handlers finish the requests under way)."""
    identity = os.environ.get("POD_NAME") or socket.gethostname()
    stopping = asyncio.Event()
    async with Kube(login, identity=f"api {identity}") as kube:
        app = create_app(kube, namespace=settings.namespace, stream=settings.stream)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for add_on in add_ons:
                    await stack.enter_async_context(add_on(app, stopping))
                await server_for(settings, app, tls, stopping).serve()
        finally:
            await app.state.informers.close()
