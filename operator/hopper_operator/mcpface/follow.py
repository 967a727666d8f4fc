"""Following instances: `hopper://namespaces/{ns}/instances/{id}` changed, told to whoever
follows it, fed by the shared list-watch of the namespace (one per namespace followed).

Two ways to follow, one bus: `subscriptions/listen` (2026-07-28: the request's response is
the stream, so it works over stateless HTTP, on whichever replica the stream reached: each
replica watches for itself), and `resources/subscribe` (the handshake versions: the change
is sent on the subscriber's session, which only stdio keeps open here). Both are capped
per replica."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import anyio
import mcp_types as types
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ServerEvent

logger = logging.getLogger(__name__)

TEMPLATE = "hopper://namespaces/{ns}/instances/{id}"
_URI = re.compile(r"hopper://namespaces/(?P<ns>[^/]+)/instances/(?P<id>[^/]+)")
BACKLOG = 1024  # changes waiting to be sent to handshake-era subscribers


def uri(namespace: str, name: str) -> str:
    return TEMPLATE.format(ns=namespace, id=name)


def parse(address: str) -> tuple[str, str]:
    """(namespace, id) of an instance's URI; MCPError INVALID_PARAMS otherwise."""
    found = _URI.fullmatch(address)
    if found is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown resource {address}: expected {TEMPLATE}")
    return found["ns"], found["id"]


class Source(Protocol):
    def names(self, namespace: str) -> AsyncIterator[str]:
        """The names of the instances of `namespace` as they change, for as long as asked."""
        ...


class Followers:
    def __init__(self, source: Source, *, max_subscriptions: int) -> None:
        self.source, self.cap = source, max_subscriptions
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus, max_subscriptions=max_subscriptions)
        self._feeds: dict[str, asyncio.Task[None]] = {}
        self._sessions: dict[str, set[ServerSession]] = {}
        self._pending: asyncio.Queue[str] = asyncio.Queue(BACKLOG)
        self._unsubscribe: Callable[[], None] | None = None
        self._sender: asyncio.Task[None] | None = None

    def watch(self, namespace: str) -> None:
        """Publish the changes of `namespace` from now on (once per namespace)."""
        if namespace not in self._feeds:
            self._feeds[namespace] = asyncio.create_task(self._feed(namespace))

    def subscribe(self, session: ServerSession, address: str) -> None:
        if sum(map(len, self._sessions.values())) >= self.cap:
            raise MCPError(types.INTERNAL_ERROR, "Subscription limit reached on this server")
        if self._sender is None:
            self._unsubscribe = self.bus.subscribe(self._queue)
            self._sender = asyncio.create_task(self._send())
        self._sessions.setdefault(address, set()).add(session)

    def unsubscribe(self, session: ServerSession, address: str) -> None:
        sessions = self._sessions.get(address, set())
        sessions.discard(session)
        if not sessions:
            self._sessions.pop(address, None)

    async def close(self) -> None:
        self.listen.close()
        if self._unsubscribe:
            self._unsubscribe()
        tasks = [*self._feeds.values(), *([self._sender] if self._sender else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _feed(self, namespace: str) -> None:
        async for name in self.source.names(namespace):
            await self.bus.publish(ResourceUpdated(uri(namespace, name)))

    def _queue(self, event: ServerEvent) -> None:
        if isinstance(event, ResourceUpdated) and event.uri in self._sessions:
            try:
                self._pending.put_nowait(event.uri)
            except asyncio.QueueFull:
                logger.warning("resource updates: backlog full, %s not told", event.uri)

    async def _send(self) -> None:
        while True:
            address = await self._pending.get()
            for session in list(self._sessions.get(address, ())):
                try:
                    await session.send_resource_updated(address)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    self.unsubscribe(session, address)  # the session has ended
