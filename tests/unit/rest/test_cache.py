"""The cache over the shared list-watch: relists, writes of ours newer than a list,
deletions. The API server's list and watch are played by a small in-memory stand-in (the
real ones: tests/integration/test_rest_api.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

import pytest

from hopper_operator.kube.client import Kube, NotFoundError
from hopper_operator.kube.informer import Informers
from hopper_operator.rest import cache as cache_module
from hopper_operator.rest.cache import Cache


def obj(name: str, version: int, display: str = "", uid: str = "") -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": str(version), "uid": uid or name}
    return {"metadata": meta, "spec": {"displayName": display or name}}


class Server:
    """Lists `items` at `version`; each watch yields what is put on `events`, and ends
    (as the API server's timeout does) on None."""

    def __init__(self, items: list[dict[str, Any]], version: int) -> None:
        self.items, self.version = items, version
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.lists = 0
        self.watched_from: list[str] = []

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", "/apis/hopper.dev/v1alpha1/namespaces/ns/hopperinstances")
        self.lists += 1
        return {"metadata": {"resourceVersion": str(self.version)}, "items": list(self.items)}

    async def watch(
        self, path: str, query: Mapping[str, str], *, opened: Callable[[], None]
    ) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(query["resourceVersion"])
        opened()
        while (event := await self.events.get()) is not None:
            yield event
            # Resumed: the cache has handled the event and asks for the next one.
            self.events.task_done()


async def settle(server: Server) -> None:
    """Until the cache has handled every event put so far."""
    await server.events.join()


async def turns(count: int = 100) -> None:
    """Let the cache's task run a while: loop turns, never wall time."""
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.fixture
async def cached() -> AsyncIterator[tuple[Cache, Server]]:
    server = Server([obj("a", 5), obj("b", 6)], 7)
    cache = Cache(Informers(cast(Kube, server)))
    yield cache, server
    await cache.informers.close()


async def test_reads_follow_the_watch(cached: tuple[Cache, Server]) -> None:
    cache, server = cached
    assert sorted(o["metadata"]["name"] for o in await cache.list("ns")) == ["a", "b"]
    assert server.watched_from == ["7"]
    await server.events.put({"type": "MODIFIED", "object": obj("a", 8, "renamed")})
    await server.events.put({"type": "ADDED", "object": obj("c", 9)})
    await server.events.put({"type": "DELETED", "object": obj("b", 10)})
    await settle(server)
    assert (await cache.get("ns", "a"))["spec"]["displayName"] == "renamed"
    assert sorted(o["metadata"]["name"] for o in await cache.list("ns")) == ["a", "c"]
    with pytest.raises(NotFoundError):
        await cache.get("ns", "b")
    assert server.lists == 1  # every read after the first from memory


async def test_our_writes_are_read_at_once_and_an_older_event_does_not_undo_them(
    cached: tuple[Cache, Server],
) -> None:
    cache, server = cached
    await cache.list("ns")
    cache.remember(obj("a", 12, "ours"))
    assert (await cache.get("ns", "a"))["spec"]["displayName"] == "ours"
    await server.events.put({"type": "MODIFIED", "object": obj("a", 11, "older")})
    await settle(server)
    assert (await cache.get("ns", "a"))["spec"]["displayName"] == "ours"


async def test_a_delete_of_ours_hides_the_object_until_the_watch_agrees(
    cached: tuple[Cache, Server],
) -> None:
    cache, server = cached
    await cache.list("ns")
    cache.forget("ns", "a")
    with pytest.raises(NotFoundError):
        await cache.get("ns", "a")
    # A MODIFIED (its finalizer walk) keeps it hidden; the DELETED removes it.
    await server.events.put({"type": "MODIFIED", "object": obj("a", 8)})
    await settle(server)
    assert [o["metadata"]["name"] for o in await cache.list("ns")] == ["b"]
    await server.events.put({"type": "DELETED", "object": obj("a", 9)})
    await settle(server)
    cache.remember(obj("a", 10, "again", uid="a2"))  # created anew by us
    assert (await cache.get("ns", "a"))["spec"]["displayName"] == "again"


async def test_a_relist_keeps_writes_newer_than_itself(cached: tuple[Cache, Server]) -> None:
    cache, server = cached
    await cache.list("ns")
    cache.remember(obj("z", 20))
    server.version = 15  # the list after the 410 is older than our write of z
    server.events.put_nowait({"type": "ERROR", "object": {"code": 410, "message": "too old"}})
    await turns()
    assert server.lists == 2 and server.watched_from == ["7", "15"]
    assert sorted(o["metadata"]["name"] for o in await cache.list("ns")) == ["a", "b", "z"]


async def test_out_of_sync_it_never_answers_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once its watch broke and the API server is away, reads fail as direct reads do."""

    class Away(Server):
        async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
            if self.lists:
                raise OSError("connection refused")
            return await super().request(method, path)

    monkeypatch.setattr(cache_module, "SYNC_WAIT", 0.01)
    server = Away([obj("a", 5)], 7)
    cache = Cache(Informers(cast(Kube, server)))
    try:
        assert [o["metadata"]["name"] for o in await cache.list("ns")] == ["a"]
        server.events.put_nowait({"type": "ERROR", "object": {"code": 500, "message": "down"}})
        await turns()
        with pytest.raises(OSError, match="refused"):
            await cache.list("ns")
    finally:
        await cache.informers.close()
