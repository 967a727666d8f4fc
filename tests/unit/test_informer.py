"""The shared list-watch (kube/informer.py): ordering from snapshot to live, 410 relists
told as changes, resume points, overflow, filters. The API server's list and watch are
played by an in-memory stand-in (the real ones: tests/integration/test_rest_stream.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

import pytest

from hopper_operator.kube.client import Kube
from hopper_operator.kube.informer import Change, Informer, Informers, Kind, Subscription
from hopper_operator.resources.paths import all_instances_path, instance_path

PATH = "/apis/hopper.dev/v1alpha1/namespaces/ns/hopperinstances"


def obj(name: str, version: int, phase: str = "Running", namespace: str = "ns") -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "resourceVersion": str(version)}
    return {"metadata": meta, "status": {"phase": phase}}


class Server:
    """Lists `items` at `version` (in pages of `page`); each watch yields what is put on
    `events`, raises what is an exception, and ends (as the API server's timeout does)
    on None."""

    def __init__(
        self, items: list[dict[str, Any]], version: int, page: int = 500, path: str = PATH
    ) -> None:
        self.items, self.version, self.page, self.path = items, version, page, path
        self.events: asyncio.Queue[dict[str, Any] | Exception | None] = asyncio.Queue()
        self.lists = 0
        self.watched_from: list[str] = []

    async def request(
        self, method: str, path: str, *, query: Mapping[str, str], **_: Any
    ) -> dict[str, Any]:
        assert (method, path) == ("GET", self.path)
        self.lists += 1
        start = int(query.get("continue", "0"))
        end = start + self.page
        meta = {"resourceVersion": str(self.version)}
        if end < len(self.items):
            meta["continue"] = str(end)
        return {"metadata": meta, "items": list(self.items[start:end])}

    async def watch(
        self, path: str, query: Mapping[str, str], *, opened: Callable[[], None]
    ) -> AsyncIterator[dict[str, Any]]:
        assert query["allowWatchBookmarks"] == "true"
        self.watched_from.append(query["resourceVersion"])
        opened()
        while True:
            event = await self.events.get()
            try:
                if event is None:
                    return
                if isinstance(event, Exception):
                    raise event
                yield event
            finally:
                # Resumed (or closed): the informer has handled the event.
                self.events.task_done()

    async def send(self, kind: str, body: dict[str, Any]) -> None:
        await self.events.put({"type": kind, "object": body})

    async def settle(self) -> None:
        """Until the informer has handled every event put so far."""
        await self.events.join()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Informer, Server]]:
    server = Server([obj("a", 5), obj("b", 6)], 7)
    informer = Informer(cast(Kube, server), PATH, history=5)
    yield informer, server
    await informer.close()


async def drain(subscription: Subscription) -> list[tuple[Kind, str, int]]:
    """What the subscription holds now (it never waits for more)."""
    seen: list[tuple[Kind, str, int]] = []
    while taken := subscription._take(1):
        seen.append(told(taken[0]))
    return seen


def told(change: Change) -> tuple[Kind, str, int]:
    name = change.obj["metadata"]["name"] if change.obj else ""
    return change.kind, name, change.version


async def test_a_snapshot_then_every_later_change_once_in_order(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    early = await informer.subscribe()
    await server.send("MODIFIED", obj("a", 8, "Paused"))
    await server.send("ADDED", obj("c", 9))
    await server.settle()
    # Subscribed between two changes: its snapshot holds the first, live brings the second.
    late = await informer.subscribe()
    await server.send("DELETED", obj("b", 10))
    await server.send("BOOKMARK", {"metadata": {"resourceVersion": "12"}})
    await server.settle()
    assert await drain(early) == [
        (Kind.ADDED, "a", 5),
        (Kind.ADDED, "b", 6),
        (Kind.SYNCED, "", 7),
        (Kind.MODIFIED, "a", 8),
        (Kind.ADDED, "c", 9),
        (Kind.DELETED, "b", 10),
    ]
    # The snapshot in the order things last changed.
    assert await drain(late) == [
        (Kind.ADDED, "b", 6),
        (Kind.ADDED, "a", 8),
        (Kind.ADDED, "c", 9),
        (Kind.SYNCED, "", 9),
        (Kind.DELETED, "b", 10),
    ]
    assert informer.version == 12 and server.lists == 1


async def test_a_broken_watch_resumes_from_its_last_version(
    served: tuple[Informer, Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    informer, server = served
    monkeypatch.setattr("hopper_operator.kube.informer.BACKOFF", (0.001, 0.001))
    subscription = await informer.subscribe()
    await server.send("MODIFIED", obj("a", 8))
    await server.events.put(OSError("connection reset"))
    await server.events.put(None)  # and a watch the server ended
    await server.send("MODIFIED", obj("b", 9))
    await server.settle()
    assert server.watched_from == ["7", "8", "8"] and server.lists == 1
    assert [c[:2] for c in await drain(subscription)][3:] == [
        (Kind.MODIFIED, "a"),
        (Kind.MODIFIED, "b"),
    ]
    assert informer.healthy


async def test_a_relist_after_410_tells_what_changed_and_what_vanished(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    subscription = await informer.subscribe()
    await drain(subscription)
    # Meanwhile: a changed (11), c created (12), b deleted; the list is at 20.
    server.items, server.version = [obj("a", 11, "Paused"), obj("c", 12)], 20
    await server.send("ERROR", {"code": 410, "message": "too old"})
    await server.send("MODIFIED", obj("c", 21))
    await server.settle()
    assert server.lists == 2 and server.watched_from == ["7", "20"]
    assert await drain(subscription) == [
        (Kind.MODIFIED, "a", 11),
        (Kind.ADDED, "c", 12),
        (Kind.DELETED, "b", 20),
        (Kind.MODIFIED, "c", 21),
    ]
    assert sorted(o["metadata"]["name"] for o in informer.objects()) == ["a", "c"]


async def test_a_resume_delivers_only_what_came_after_its_version(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    await informer.synced()
    for version in (8, 9, 10):
        await server.send("MODIFIED", obj("a", version))
    await server.settle()
    resumed = await informer.subscribe(after=9)
    assert await drain(resumed) == [(Kind.MODIFIED, "a", 10), (Kind.SYNCED, "", 10)]
    # A point before the first list, or (not accepted) one not reached yet: a reset.
    for after, future in ((6, True), (11, False)):
        reset = await informer.subscribe(after=after, future=future)
        assert await drain(reset) == [
            (Kind.RESET, "", 0),
            (Kind.ADDED, "b", 6),
            (Kind.ADDED, "a", 10),
            (Kind.SYNCED, "", 10),
        ]
    # A point not reached yet, accepted: what comes after it, and nothing before.
    ahead = await informer.subscribe(after=11)
    await server.send("MODIFIED", obj("b", 11))
    await server.send("MODIFIED", obj("b", 12))
    await server.settle()
    assert await drain(ahead) == [(Kind.SYNCED, "", 10), (Kind.MODIFIED, "b", 12)]


async def test_history_is_bounded_and_forgotten_points_reset(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    await informer.synced()
    for version in range(8, 15):  # 7 changes, 5 kept: 8 and 9 forgotten
        await server.send("MODIFIED", obj("a", version))
    await server.settle()
    assert (await drain(await informer.subscribe(after=8)))[0][0] is Kind.RESET
    kept = await drain(await informer.subscribe(after=9))
    assert [c[2] for c in kept] == [10, 11, 12, 13, 14, 14]


async def test_a_point_inside_a_relist_resets_unless_the_relist_told_it(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    await informer.synced()
    server.items, server.version = [obj("a", 11), obj("b", 6)], 20
    await server.send("ERROR", {"code": 410, "message": "too old"})
    await server.send("BOOKMARK", {"metadata": {"resourceVersion": "21"}})
    await server.settle()
    # 15: another replica's point this one never saw (what it held then is unknown).
    assert (await drain(await informer.subscribe(after=15)))[0][0] is Kind.RESET
    assert await drain(await informer.subscribe(after=11)) == [(Kind.SYNCED, "", 21)]
    assert [c[:2] for c in await drain(await informer.subscribe(after=7))] == [
        (Kind.MODIFIED, "a"),
        (Kind.SYNCED, ""),
    ]


async def test_a_subscriber_behind_its_buffer_overflows_alone(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    slow = await informer.subscribe(buffer=2)
    fast = await informer.subscribe(buffer=2)
    await drain(slow)
    for version in (8, 9, 10):
        await server.send("MODIFIED", obj("a", version))
        await server.settle()
        await drain(fast)
    assert slow.overflowed and not fast.overflowed
    assert [change.kind async for change in slow] == [Kind.OVERFLOW]
    await server.send("MODIFIED", obj("a", 11))
    await server.settle()
    assert await drain(fast) == [(Kind.MODIFIED, "a", 11)]
    assert informer._subscribers == {fast}


async def test_a_batch_takes_what_is_ready_in_order_and_frees_the_buffer(
    served: tuple[Informer, Server],
) -> None:
    """A reader of a burst: the snapshot first, then the buffer, at most `most` at a
    time; what it took no longer counts against the buffer; [] once ended."""
    informer, server = served
    subscription = await informer.subscribe(buffer=3)
    for version in (8, 9, 10):
        await server.send("MODIFIED", obj("a", version))
    await server.settle()
    assert list(map(told, await subscription.batch(2))) == [
        (Kind.ADDED, "a", 5),
        (Kind.ADDED, "b", 6),
    ]
    assert list(map(told, await subscription.batch(3))) == [
        (Kind.SYNCED, "", 7),
        (Kind.MODIFIED, "a", 8),
        (Kind.MODIFIED, "a", 9),
    ]
    await server.send("MODIFIED", obj("b", 11))
    await server.send("MODIFIED", obj("b", 12))
    await server.settle()
    assert not subscription.overflowed  # 10, 11, 12: a full buffer, not beyond
    waiting = asyncio.create_task(subscription.batch(10))
    assert [c.version for c in await waiting] == [10, 11, 12]
    waiting = asyncio.create_task(subscription.batch(10))
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing ready: it waits
    await server.send("DELETED", obj("b", 13))
    await server.settle()
    assert list(map(told, await waiting)) == [(Kind.DELETED, "b", 13)]
    subscription.close()
    assert await subscription.batch(10) == []


async def test_a_filter_sees_moves_in_and_out_as_added_and_deleted(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    paused = await informer.subscribe(where=lambda o: o["status"]["phase"] == "Paused")
    await server.send("MODIFIED", obj("a", 8, "Paused"))  # in
    await server.send("MODIFIED", obj("a", 9, "Paused"))  # stays
    await server.send("MODIFIED", obj("b", 10, "Running"))  # never in
    await server.send("MODIFIED", obj("a", 11, "Running"))  # out
    await server.send("DELETED", obj("a", 12, "Running"))  # gone while out
    await server.settle()
    assert await drain(paused) == [
        (Kind.SYNCED, "", 7),
        (Kind.ADDED, "a", 8),
        (Kind.MODIFIED, "a", 9),
        (Kind.DELETED, "a", 11),
    ]


async def test_subscribers_starting_together_share_one_snapshot_read_as_they_go(
    served: tuple[Informer, Server],
) -> None:
    """A hundred streams opened at once hold one list of the bodies, not a hundred lists
    of changes; a change makes the next snapshot a new list; a filter that leaves none of
    the snapshot still gives `synced` (a batch is [] only once ended)."""
    informer, server = served
    first, second = await informer.subscribe(), await informer.subscribe()
    none = await informer.subscribe(where=lambda o: o["status"]["phase"] == "Paused")
    assert first._listed is second._listed is none._listed
    assert not first._first  # nothing turned into a change before it is read
    assert await none.batch(10) == [Change(Kind.SYNCED, None, 7)]
    assert list(map(told, await first.batch(1))) == [(Kind.ADDED, "a", 5)]
    await server.send("MODIFIED", obj("a", 8))
    await server.settle()
    later = await informer.subscribe()
    assert later._listed is not first._listed
    assert await drain(later) == [(Kind.ADDED, "b", 6), (Kind.ADDED, "a", 8), (Kind.SYNCED, "", 8)]
    assert await drain(first) == [
        (Kind.ADDED, "b", 6),
        (Kind.SYNCED, "", 7),
        (Kind.MODIFIED, "a", 8),
    ]
    assert first._listed == ()  # read through: the old bodies are not kept by it


async def test_a_list_is_read_page_by_page() -> None:
    server = Server([obj(f"i{n}", n) for n in range(1, 8)], 9, page=3)
    informer = Informer(cast(Kube, server), PATH)
    try:
        await informer.synced()
        assert len(informer.objects()) == 7 and server.lists == 3 and informer.version == 9
    finally:
        await informer.close()


async def test_closing_ends_every_subscription(served: tuple[Informer, Server]) -> None:
    informer, _ = served
    subscription = await informer.subscribe()
    waiting = asyncio.create_task(drain_all(subscription))
    await informer.close()
    assert [c.kind for c in await waiting][-1] is Kind.SYNCED


async def drain_all(subscription: Subscription) -> list[Change]:
    return [change async for change in subscription]


async def test_reached_waits_until_the_informer_has_seen_a_version(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    waiting = asyncio.create_task(informer.reached(9))
    await server.send("MODIFIED", obj("a", 8))
    await server.settle()
    assert not waiting.done()
    await server.send("BOOKMARK", {"metadata": {"resourceVersion": "9"}})
    await server.settle()
    await asyncio.wait_for(waiting, 5)


async def test_a_failing_filter_ends_its_subscription_alone(
    served: tuple[Informer, Server],
) -> None:
    informer, server = served
    broken = await informer.subscribe(where=lambda o: o["status"]["phase"] != "Paused")
    other = await informer.subscribe()
    await server.send("MODIFIED", {"metadata": obj("a", 8)["metadata"]})  # no status
    await server.send("MODIFIED", obj("b", 9))
    await server.settle()
    assert [c.kind for c in await drain_all(broken)][-1] is Kind.SYNCED  # and ended
    assert [c[:2] for c in await drain(other)][-2:] == [(Kind.MODIFIED, "a"), (Kind.MODIFIED, "b")]


async def test_every_namespace_is_a_view_of_one_informer_started_at_once() -> None:
    """Everywhere: one list-watch, started before anyone asks; each namespace sees its own
    objects and changes only, and resumes after any version the informer has seen since
    it started, whether or not that namespace was asked about before."""
    items = [obj("a", 5), obj("x", 6, namespace="other")]
    server = Server(items, 7, path=all_instances_path())
    informers = Informers(cast(Kube, server), instance_path, everywhere=all_instances_path())
    try:
        await asyncio.sleep(0)
        assert server.lists == 0
        informers.start()
        await informers.synced()
        assert server.lists == 1
        live = await informers.of("ns").subscribe()
        await server.send("MODIFIED", obj("x", 8, "Paused", namespace="other"))
        await server.send("MODIFIED", obj("a", 9, "Paused"))
        await server.send("ADDED", obj("y", 10, namespace="other"))
        await server.send("DELETED", obj("a", 11))
        await server.settle()
        assert await drain(live) == [
            (Kind.ADDED, "a", 5),
            (Kind.SYNCED, "", 7),
            (Kind.MODIFIED, "a", 9),
            (Kind.DELETED, "a", 11),
        ]
        other = informers.of("other")
        assert [o["metadata"]["name"] for o in other.objects()] == ["x", "y"]
        assert other.get("y") is not None and other.get("a") is None
        assert informers.of("ns").objects() == []
        resumed = await other.subscribe(after=7)
        assert await drain(resumed) == [
            (Kind.MODIFIED, "x", 8),
            (Kind.ADDED, "y", 10),
            (Kind.SYNCED, "", 11),
        ]
        assert server.lists == 1 and server.watched_from == ["7"]
    finally:
        await informers.close()
