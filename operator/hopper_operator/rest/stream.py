"""The instances as server-sent events (docs/instance-api.md, "Watching"): a subscription
to the namespace's shared list-watch, written as `added` ... `synced`, then `modified` and
`deleted`, with the resourceVersion as each event's id and comments as heartbeats.

Every open stream is counted (at most `limit` per replica: 503 beyond), lives a bounded,
jittered time, and ends when the server shuts down; its subscription is closed however the
response ends (a client gone, an overflow, shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hopper_operator.kube.informer import Change, Kind, Subscription, View, Where
from hopper_operator.rest import mapping
from hopper_operator.rest.cache import SYNC_WAIT
from hopper_operator.rest.errors import ApiError

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
JITTER = 0.1  # a lifetime is cut by up to this share, so that streams do not end together


@dataclass(frozen=True)
class StreamSettings:
    heartbeat: float = 15.0  # seconds of quiet before a comment line
    lifetime: float = 1800.0  # seconds a stream lives at most (then the client resumes)
    buffer: int = 1024  # events a stream may hold unsent before it is reset and closed
    limit: int = 1000  # open streams per replica; 503 beyond
    retry_after: int = 5  # seconds, in a 503's Retry-After


def token(last_event_id: str | None) -> int | None:
    """The resume point a Last-Event-ID names: None for none, -1 for one not readable
    (a reset: the informer has nothing before version 0)."""
    if not last_event_id:
        return None
    try:
        value = int(last_event_id)
    except ValueError:
        return -1
    return value if value >= 0 else -1


def frame(change: Change, data: str = "{}") -> bytes:
    """One event, `data` its body. Snapshot, live and replayed changes carry their version
    as the id; a reset clears the client's (an empty id): a client cut off during the
    snapshot that follows resumes from what it got of it, or starts over."""
    ident = "" if change.kind is Kind.RESET else str(change.version)
    return f"id: {ident}\nevent: {change.kind.value}\ndata: {data}\n\n".encode()


HEARTBEAT = b": keep-alive\n\n"
RESET = frame(Change(Kind.RESET, None, 0))
FRAMES = 2048  # events kept encoded: every stream sends the same change
BATCH = 64  # events at most in one write: a burst is a few writes, never a large copy


class Streams:
    """The open streams of this replica."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self._open: set[Subscription] = set()
        self._frames: OrderedDict[tuple[Kind, str, str, str], bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    async def open(
        self,
        informer: View,
        *,
        after: int | None,
        where: Where | None,
        single: bool,
        since: int = 0,
    ) -> EventStream:
        """The response streaming what `where` selects, once the informer has seen `since`
        (a write of this replica's: its client finds it in the snapshot); 503 when the
        replica is full."""
        if len(self._open) >= self.settings.limit:
            retry = {"Retry-After": str(self.settings.retry_after)}
            raise ApiError(503, "Too many open streams on this replica; retry", retry)
        try:
            async with asyncio.timeout(SYNC_WAIT):
                await informer.reached(since)
        except TimeoutError:
            retry = {"Retry-After": str(self.settings.retry_after)}
            raise ApiError(503, "The instances are not listed yet; retry", retry) from None
        if after is not None and after > informer.version:
            # A point another replica told (the client resumes here): this replica's watch
            # may be a moment behind it. One that nobody reaches resets.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SYNC_WAIT):
                    await informer.reached(after)
        subscription = await informer.subscribe(
            after=after, where=where, buffer=self.settings.buffer, future=False
        )
        self._open.add(subscription)
        return EventStream(self, subscription, single=single)

    def frame(self, change: Change) -> bytes:
        if change.obj is None:
            return frame(change)
        meta = change.obj["metadata"]
        key = change.kind, meta.get("namespace", ""), meta["name"], meta.get("resourceVersion", "")
        encoded = self._frames.get(key)
        if encoded is None:
            # Once per change, not once per stream: a hundred streams, one serialization.
            body = mapping.to_instance(change.obj).model_dump_json()
            encoded = self._frames[key] = frame(change, body)
            if len(self._frames) > FRAMES:
                self._frames.popitem(last=False)
        return encoded

    def _closed(self, subscription: Subscription) -> None:
        subscription.close()
        self._open.discard(subscription)

    def close(self) -> None:
        """End every stream (the server is shutting down): each response ends cleanly."""
        for subscription in list(self._open):
            subscription.close()


class EventStream(StreamingResponse):
    def __init__(self, streams: Streams, subscription: Subscription, *, single: bool) -> None:
        self._streams, self._subscription = streams, subscription
        body = _events(streams, subscription, single=single)
        super().__init__(body, media_type=MEDIA_TYPE, headers=HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However it ended: the client gone (the body's task cancelled), or done.
            self._streams._closed(self._subscription)

    async def stream_response(self, send: Send) -> None:
        # Starlette's own keeps the last chunk it wrote (its loop variable) while the stream
        # waits for the next: for an idle stream, the end of its snapshot, kept for nothing.
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        async for chunk in self.body_iterator:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            del chunk
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _events(
    streams: Streams, subscription: Subscription, *, single: bool
) -> AsyncIterator[bytes]:
    settings, loop = streams.settings, asyncio.get_running_loop()
    end = loop.time() + settings.lifetime * (1 - JITTER * random.random())
    while (left := end - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(settings.heartbeat, left)):
                changes = await subscription.batch(BATCH)
        except TimeoutError:
            yield HEARTBEAT
            continue
        if not changes:
            return  # closed: the server is shutting down
        chunk, last = _chunk(streams, changes, single=single)
        # Nothing of this burst is held while the stream waits for the next one.
        del changes
        yield chunk  # what is ready: one write
        del chunk
        if last:
            return


def _chunk(streams: Streams, changes: list[Change], *, single: bool) -> tuple[bytes, bool]:
    """The events `changes` make, and whether the stream ends with them."""
    frames, last = _frames(streams, changes, single=single)
    return b"".join(frames), last


def _frames(streams: Streams, changes: list[Change], *, single: bool) -> tuple[list[bytes], bool]:
    frames: list[bytes] = []
    for change in changes:
        if change.kind is Kind.OVERFLOW:
            frames.append(RESET)  # fell behind: start over, from a snapshot
            return frames, True
        frames.append(streams.frame(change))
        if single and change.kind is Kind.DELETED:
            return frames, True
    return frames, False
