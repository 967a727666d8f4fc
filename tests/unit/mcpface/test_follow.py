"""Following instances: a change the source tells reaches each session subscribed to that
instance, and no other; subscriptions are capped; /mcp without a bearer token is 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.types import Message

from hopper_operator.mcpface.follow import Followers, uri
from hopper_operator.mcpface.http import Endpoint


class Changes:
    """A source whose changes the test says."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    async def names(self, namespace: str) -> AsyncIterator[str]:
        while True:
            yield await self.queue.get()


class Session:
    def __init__(self) -> None:
        self.told: asyncio.Queue[str] = asyncio.Queue()

    async def send_resource_updated(self, address: str) -> None:
        await self.told.put(address)


def session() -> tuple[Session, ServerSession]:
    fake = Session()
    return fake, cast(ServerSession, fake)


async def test_a_change_reaches_its_subscribers_only() -> None:
    changes = Changes()
    followers = Followers(changes, max_subscriptions=3)
    (mine, as_mine), (other, as_other) = session(), session()
    followers.watch("team")
    followers.subscribe(as_mine, uri("team", "a"))
    followers.subscribe(as_other, uri("team", "b"))
    await changes.queue.put("a")
    async with asyncio.timeout(5):
        assert await mine.told.get() == "hopper://namespaces/team/instances/a"
    assert other.told.empty()
    followers.unsubscribe(as_mine, uri("team", "a"))
    await changes.queue.put("a")
    await changes.queue.put("b")
    async with asyncio.timeout(5):
        assert await other.told.get() == uri("team", "b")
    assert mine.told.empty()
    await followers.close()


async def test_subscriptions_are_capped() -> None:
    followers = Followers(Changes(), max_subscriptions=2)
    for name in ("a", "b"):
        followers.subscribe(session()[1], uri("team", name))
    with pytest.raises(MCPError, match="Subscription limit"):
        followers.subscribe(session()[1], uri("team", "c"))
    await followers.close()


async def test_no_bearer_token_is_401_before_any_mcp() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body is never read")

    async def send(message: Message) -> None:
        sent.append(message)

    endpoint = Endpoint(cast(StreamableHTTPSessionManager, None))
    for headers in (
        [],
        [(b"authorization", b"Basic dXNlcjpwdw==")],
        [(b"authorization", b"Bearer ")],
    ):
        sent.clear()
        await endpoint({"type": "http", "headers": headers}, receive, send)
        start = sent[0]
        assert start["status"] == 401
        assert (b"www-authenticate", b"Bearer") in start["headers"]
