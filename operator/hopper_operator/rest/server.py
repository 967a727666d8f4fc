"""Serve the Instance API with uvicorn: HTTPS, or plain HTTP for development and tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import kopf
import uvicorn
from fastapi import FastAPI

from hopper_operator.kube.client import Kube, connection_info
from hopper_operator.rest.app import create_app


@dataclass(frozen=True)
class ApiSettings:
    namespace: str  # what /api/v1/instances serves
    address: str = "0.0.0.0"
    port: int = 8443
    cert_dir: str | None = None  # tls.crt and tls.key; None: the context given, or plain


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
    )
    config.load()
    if tls is not None and cert is None:
        config.ssl = tls  # a generated certificate, made in memory (uvicorn reads files)
    return config


# Another face served beside the routes (the MCP endpoint): mounted on the app for as long
# as its context lasts; `stopping` is set when the server begins to shut down (its
# long-lived streams end then, or the shutdown would wait for them).
AddOn = Callable[[FastAPI, asyncio.Event], AbstractAsyncContextManager[None]]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, stopping: asyncio.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stopping.set()
        await super().shutdown(sockets)


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
        app = create_app(kube, namespace=settings.namespace)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for add_on in add_ons:
                    await stack.enter_async_context(add_on(app, stopping))
                await _Server(uvicorn_config(settings, app, tls), stopping).serve()
        finally:
            await app.state.informers.close()
