"""The Instance API's event stream (`?watch=true`) served by uvicorn over a real socket,
the real control plane behind it: snapshot, live changes, resume, resets, filters, the
per-instance stream, heartbeats, access, a slow consumer, the stream limit, and
kube-apiserver restarted mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import Kubectl
from tests.integration.rest_fixtures import BASE, Tokens

from hopper_localcluster import ControlPlane, free_ports
from hopper_operator.api.enums import Phase
from hopper_operator.core.lifecycle import is_legal
from hopper_operator.kube.client import Kube
from hopper_operator.rest.app import create_app
from hopper_operator.rest.server import ApiSettings, server_for
from hopper_operator.rest.stream import StreamSettings

WATCH = {"watch": "true"}


@dataclass(frozen=True)
class Event:
    kind: str  # "comment" for a comment line (a heartbeat)
    id: str | None
    data: Any


class Stream:
    """The events of one response, parsed as a browser's EventSource would."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, *, within: float = 30, comments: bool = False) -> Event:
        """The next event (EOFError when the server ended the stream)."""
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line.startswith(":"):
                    if comments:
                        return Event("comment", None, line)
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif fields:
                    data = json.loads(fields["data"]) if "data" in fields else None
                    return Event(fields.get("event", "message"), fields.get("id"), data)
            raise EOFError

    async def until(self, kind: str, **options: Any) -> list[Event]:
        """Every event up to and including the next of `kind`."""
        seen = [await self.next(**options)]
        while seen[-1].kind != kind:
            seen.append(await self.next(**options))
        return seen


def told(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.kind, e.data["id"] if e.data and "id" in e.data else "") for e in events]


@contextlib.asynccontextmanager
async def watching(
    client: httpx.AsyncClient, path: str, *, last: str | None = None, **params: str
) -> AsyncIterator[Stream]:
    headers = {"Last-Event-ID": last} if last is not None else {}
    async with client.stream("GET", path, params={**WATCH, **params}, headers=headers) as answer:
        yield Stream(answer)


@contextlib.asynccontextmanager
async def serving(
    kube: Kube, namespace: str, settings: StreamSettings
) -> AsyncIterator[uvicorn.Server]:
    """The app served by uvicorn on a free port, as `hopper-operator api` serves it."""
    (port,) = free_ports(1)
    app = create_app(kube, namespace=namespace, stream=settings)
    server = server_for(ApiSettings(namespace, address="127.0.0.1", port=port), app, None)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await task  # ends although streams may be open: the server closes them
        await app.state.informers.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    server: uvicorn.Server
    writer: httpx.AsyncClient  # a user bound to edit
    viewer: httpx.AsyncClient  # a user bound to view: get, list, watch

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.config.port}"

    async def create(self, id: str, scope: str = "GLOBAL", **body: Any) -> dict[str, Any]:
        made = await self.writer.post(BASE, json={"id": id, "name": id, "scope": scope, **body})
        assert made.status_code == 201, made.text
        answer: dict[str, Any] = made.json()
        return answer

    async def rename(self, id: str, name: str) -> None:
        answer = await self.writer.put(f"{BASE}/{id}", json={"name": name})
        assert answer.status_code == 200, answer.text


@contextlib.asynccontextmanager
async def api_with(
    kube: Kube, namespace: str, tokens: Tokens, settings: StreamSettings
) -> AsyncIterator[Api]:
    async with serving(kube, namespace, settings) as server:
        url = f"http://127.0.0.1:{server.config.port}"
        async with (
            httpx.AsyncClient(base_url=url, headers=bearer(tokens("edit"))) as writer,
            httpx.AsyncClient(base_url=url, headers=bearer(tokens("view")), timeout=60) as viewer,
        ):
            yield Api(server, writer, viewer)


@pytest.fixture
async def api(api_kube: Kube, namespace: str, tokens: Tokens) -> AsyncIterator[Api]:
    async with api_with(api_kube, namespace, tokens, StreamSettings(heartbeat=1)) as served:
        yield served


async def test_a_snapshot_then_synced_then_every_change_live(api: Api) -> None:
    await api.create("one")
    await api.create("two")
    async with watching(api.viewer, BASE) as stream:
        headers = stream.response.headers
        assert stream.response.status_code == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache" and headers["x-accel-buffering"] == "no"
        snapshot = await stream.until("synced")
        assert told(snapshot) == [("added", "one"), ("added", "two"), ("synced", "")]
        # The body GET answers, and its resourceVersion (the ETag) as the id.
        got = await api.viewer.get(f"{BASE}/one")
        assert snapshot[0].data == got.json() and f'"{snapshot[0].id}"' == got.headers["etag"]
        await api.create("three")
        assert told([await stream.next()]) == [("added", "three")]
        await api.rename("three", "renamed")
        changed = await stream.next()
        assert changed.kind == "modified" and changed.data["name"] == "renamed"
        assert changed.data == (await api.viewer.get(f"{BASE}/three")).json()
        await api.writer.delete(f"{BASE}/three", params={"purge": "true"})
        gone = await stream.until("deleted")
        assert {e.kind for e in gone} <= {"modified", "deleted"}, gone
        assert gone[-1].data["id"] == "three" and int(gone[-1].id or 0) > int(changed.id or 0)


async def test_a_resume_delivers_what_changed_while_away_and_nothing_again(api: Api) -> None:
    await api.create("one")
    async with watching(api.viewer, BASE) as stream:
        last = (await stream.until("synced"))[-1].id
    assert last
    await api.rename("one", "while away")
    async with watching(api.viewer, BASE, last=last) as stream:
        seen = await stream.until("modified")
        assert [e.kind for e in seen if e.kind != "synced"] == ["modified"]
        assert seen[-1].data["name"] == "while away"
        last = seen[-1].id
    # From the last event received: nothing is told again.
    async with watching(api.viewer, BASE, last=last) as stream:
        assert told([await stream.next()]) == [("synced", "")]
        await api.rename("one", "live")
        assert (await stream.next()).data["name"] == "live"


@pytest.mark.parametrize("last", ["not-a-version", "1"])
async def test_an_unusable_last_event_id_resets_to_a_fresh_snapshot(api: Api, last: str) -> None:
    await api.create("one")
    async with watching(api.viewer, BASE, last=last) as stream:
        seen = await stream.until("synced")
        assert told(seen) == [("reset", ""), ("added", "one"), ("synced", "")]
        assert seen[0].id == ""  # the client's resume point is cleared


async def test_a_filtered_stream_carries_only_its_instances_moving_in_and_out(
    api: Api, kubectl: Kubectl, namespace: str
) -> None:
    await api.create("g")
    await api.create("p", scope="PROJECT", parent_id="g")

    def phase(name: str, phase: str) -> None:
        kubectl("patch", "hopperinstance", name, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"phase": phase}}))  # fmt: skip

    async with watching(api.viewer, BASE, scope="GLOBAL", status="paused") as stream:
        assert told(await stream.until("synced")) == [("synced", "")]
        phase("g", "Paused")  # in
        phase("p", "Paused")  # another scope: never told
        phase("g", "Running")  # out
        await api.rename("p", "still not")
        phase("g", "Paused")  # in again
        seen = [await stream.next() for _ in range(3)]
        assert told(seen) == [("added", "g"), ("deleted", "g"), ("added", "g")]
        assert seen[1].data["status"] == "running"  # what it moved out as


async def test_the_stream_of_one_instance_ends_after_its_deletion(api: Api) -> None:
    missing = await api.viewer.get(f"{BASE}/missing", params=WATCH)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Instance missing not found"}
    await api.create("one")
    await api.create("other")
    async with watching(api.viewer, f"{BASE}/one") as stream:
        assert told(await stream.until("synced")) == [("added", "one"), ("synced", "")]
        await api.rename("other", "elsewhere")
        await api.rename("one", "here")
        assert told([await stream.next()]) == [("modified", "one")]
        await api.writer.delete(f"{BASE}/one", params={"purge": "true"})
        assert (await stream.until("deleted"))[-1].data["id"] == "one"
        with pytest.raises(EOFError):
            await stream.next()


async def test_a_quiet_stream_has_a_heartbeat_within_the_interval(api: Api) -> None:
    async with watching(api.viewer, BASE) as stream:
        await stream.until("synced")
        started = time.monotonic()
        assert (await stream.next(comments=True, within=5)).kind == "comment"
        assert time.monotonic() - started < 1.5  # the interval: 1 s


async def test_a_stream_ends_cleanly_after_its_lifetime_and_resumes(
    api_kube: Kube, namespace: str, tokens: Tokens
) -> None:
    async with api_with(api_kube, namespace, tokens, StreamSettings(lifetime=1)) as api:
        await api.create("one")
        async with watching(api.viewer, BASE) as stream:
            started = time.monotonic()
            last = (await stream.until("synced"))[-1].id
            with pytest.raises(EOFError):
                await stream.next(within=5)
            assert 0.85 < time.monotonic() - started < 1.5  # 1 s, cut by up to a tenth
        await api.rename("one", "meanwhile")
        async with watching(api.viewer, BASE, last=last) as stream:
            seen = await stream.until("modified")  # the rename: replayed, or live just after
            assert told([e for e in seen if e.kind != "synced"]) == [("modified", "one")]


async def test_shutting_down_ends_the_open_streams_cleanly(api: Api) -> None:
    async with watching(api.viewer, BASE) as stream:
        await stream.until("synced")
        api.server.should_exit = True
        started = time.monotonic()
        with pytest.raises(EOFError):  # the response's end, not a broken connection
            await stream.next(within=5)
        assert time.monotonic() - started < 2


async def test_without_a_token_401_and_without_the_right_403(
    api: Api, kubectl: Kubectl, namespace: str
) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        refused = await anonymous.get(BASE, params=WATCH)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(token)) as nobody:
        for path in (BASE, f"{BASE}/one"):
            refused = await nobody.get(path, params=WATCH)
            assert refused.status_code == 403, refused.text
            assert "cannot watch" in refused.json()["detail"]


async def test_the_stream_limit_answers_503_and_a_closed_stream_frees_its_place(
    api_kube: Kube, namespace: str, tokens: Tokens
) -> None:
    async with api_with(api_kube, namespace, tokens, StreamSettings(limit=2)) as api:
        async with watching(api.viewer, BASE) as first, watching(api.viewer, BASE) as second:
            await first.until("synced")
            await second.until("synced")
            full = await api.viewer.get(BASE, params=WATCH)
            assert full.status_code == 503 and full.headers["retry-after"] == "5"
            assert (await api.viewer.get(BASE)).status_code == 200  # lists still answer

        async def opens() -> bool:
            async with watching(api.viewer, BASE) as third:
                return third.response.status_code == 200

        # The server learns of the closed connections as they close: wait for that.
        deadline = time.monotonic() + 10
        while not await opens():
            assert time.monotonic() < deadline, "the closed streams kept their places"


def slow_reader(port: int, path: str, token: str) -> socket.socket:
    """A client that asks for a stream and then reads nothing: a small receive buffer,
    so that the server's writes block soon."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.sendall(
        f"GET {path}?watch=true HTTP/1.1\r\nHost: api\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    return client


def read_to_end(client: socket.socket, within: float = 30) -> bytes:
    """What the server sends until it closes the connection, or `within` seconds."""
    deadline, chunks = time.monotonic() + within, []
    with contextlib.suppress(TimeoutError):
        while (left := deadline - time.monotonic()) > 0:
            client.settimeout(left)
            if not (chunk := client.recv(1 << 16)):
                break
            chunks.append(chunk)
    return b"".join(chunks)


async def test_a_slow_consumer_is_reset_and_closed_while_others_go_on(
    api_kube: Kube, namespace: str, tokens: Tokens
) -> None:
    settings = StreamSettings(buffer=4)
    async with api_with(api_kube, namespace, tokens, settings) as api:
        await api.create("big")
        slow = slow_reader(api.server.config.port, BASE, tokens("view"))
        try:
            async with watching(api.viewer, BASE) as fast:
                await fast.until("synced")
                blob = "x" * 200_000  # each event carries it: the slow socket fills
                for n in range(40):
                    answer = await api.writer.put(
                        f"{BASE}/big", json={"config": {"n": n, "b": blob}}
                    )
                    assert answer.status_code == 200
                    assert (await fast.next()).data["config"]["n"] == n
            told_slow = await asyncio.to_thread(read_to_end, slow)
        finally:
            slow.close()
    assert told_slow.startswith(b"HTTP/1.1 200"), told_slow[:200]
    # It fell behind: not every change reached it, and the last event said so.
    assert told_slow.rsplit(b"event: ", 1)[1].startswith(b"reset")
    assert told_slow.count(b"event: modified") < 40


async def test_kube_apiserver_restarted_mid_stream_loses_nothing(
    api: Api, control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    await api.create("one")
    async with watching(api.viewer, BASE) as stream:
        await stream.until("synced")
        await asyncio.to_thread(control_plane.restart_apiserver)
        # Changed at once, while the API's informer may still be finding the server again.
        kubectl("patch", "hopperinstance", "one", "-n", namespace, "--type=merge",
                "-p", json.dumps({"spec": {"displayName": "after"}}))  # fmt: skip
        await api.create("two")
        seen = await stream.until("added", within=60)
        names = [(e.kind, e.data["id"], e.data["name"]) for e in seen]
        assert names == [("modified", "one", "after"), ("added", "two", "two")], names
        await api.rename("two", "live")
        assert (await stream.next()).data["name"] == "live"


async def test_a_start_is_seen_live_every_status_a_legal_step(
    api: Api, operator: Any, kubectl: Kubectl
) -> None:
    await api.create("life")
    async with watching(api.viewer, f"{BASE}/life") as stream:
        seen = await stream.until("synced")
        started = await api.writer.post(f"{BASE}/life/start", params={"wait": "false"})
        assert started.status_code in (200, 202), started.text
        while seen[-1].data.get("status") != "running":
            seen.append(await stream.next(within=60))
    statuses = [k for k, _ in itertools.groupby(e.data["status"] for e in seen if e.data)]
    assert statuses[0] == "created" and statuses[-1] == "running", statuses
    phases = [Phase(s.capitalize()) for s in statuses]
    assert all(is_legal(a, b) for a, b in itertools.pairwise(phases)), statuses
