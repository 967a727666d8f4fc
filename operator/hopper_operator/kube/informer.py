"""One list-watch of a collection (the instances of a namespace, or of all namespaces),
shared by whoever in the process wants to know what it holds or what changes in it.

List (paginated), then watch from the list's resourceVersion with bookmarks; on a
transient error watch again from the last version seen, after a backoff; on 410 Gone list
again and tell, as changes, what differs from what was held (what vanished meanwhile as
`deleted`). Subscribers never see a watch break: only the changes, in order.

A subscriber starts either from now (a snapshot of `added`, then `synced`) or after a
resourceVersion it already holds (only what came later, then `synced`; `reset`, a snapshot
and `synced` when the informer cannot tell what came later). It reads through a bounded
buffer: one that falls behind gets `overflow` and is dropped, so memory never grows with
a slow consumer. The snapshot (or the replay) and the registration happen in one turn of
the event loop, with no await between: nothing falls between them, nothing comes twice.
A snapshot is the informer's sorted list of the bodies, shared by every subscriber that
starts while nothing changes; each turns its bodies into changes as it reads them, so a
hundred subscribers starting together hold one list, not a hundred of a thousand changes.

A subscription may carry `where`, a predicate on bodies: then an object that stops
matching arrives as `deleted` (with its new body) and one that starts matching as `added`,
so the subscriber's set is always exactly the matching objects. It may name a namespace:
then it sees that namespace's objects only (a `View` of an all-namespaces informer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any

from hopper_operator.kube.client import TRANSIENT_ERRORS, Kube, KubeError
from hopper_operator.kube.versions import version_of

logger = logging.getLogger(__name__)

Body = Mapping[str, Any]
Where = Callable[[Body], bool]

PAGE = 500  # objects per list request
WATCH_TIMEOUT = 300  # seconds one watch request lasts before the informer watches again
HISTORY = 1000  # changes kept to serve subscribers that resume after a version
BUFFER = 1024  # changes a subscriber may hold unread before it overflows
BACKOFF = (0.2, 5.0)  # seconds before watching again after a failure: first, at most


class Kind(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    SYNCED = "synced"  # the subscriber holds the whole set; live changes follow
    RESET = "reset"  # drop what you hold: a snapshot and `synced` follow
    OVERFLOW = "overflow"  # fell behind its buffer: the subscription has ended


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    # added, modified: the new body; deleted: the last; None for the other kinds.
    obj: Body | None
    # A resume point: subscribing `after` it delivers what follows this change.
    version: int
    # The body held before this change (None: none), for `where` to judge a move.
    old: Body | None = None


def _name(obj: Body) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _namespace(obj: Body | None) -> str | None:
    """The namespace of an object (None for no object: `synced`, `reset`, `overflow`)."""
    return None if obj is None else str(obj["metadata"].get("namespace", ""))


def _seen(change: Change, where: Where | None) -> Change | None:
    """`change` as a subscriber filtering by `where` sees it (None: not at all)."""
    if where is None or change.kind not in (Kind.ADDED, Kind.MODIFIED, Kind.DELETED):
        return change
    assert change.obj is not None
    held = change.old is not None and where(change.old)
    if change.kind is Kind.DELETED:
        return change if held or (change.old is None and where(change.obj)) else None
    now = where(change.obj)
    if now and held:
        return change
    if now:
        return Change(Kind.ADDED, change.obj, change.version, change.old)
    if held:
        return Change(Kind.DELETED, change.obj, change.version, change.old)
    return None


class Subscription:
    """The changes for one subscriber, in order: iterate (`async for`) until it ends
    (after `overflow`, or once closed); close it when done (`async with` does)."""

    def __init__(
        self, informer: Informer, where: Where | None, size: int, namespace: str | None = None
    ) -> None:
        self._informer, self._where, self._size = informer, where, size
        self._namespace = namespace
        # Before the live changes, never counted: `reset` or a replay, the snapshot's
        # bodies (read from `_at` on, shared with other subscribers), then `synced`.
        self._first: deque[Change] = deque()
        self._listed: Sequence[Body] = ()
        self._at = 0
        self._synced: Change | None = None
        self._buffer: deque[Change] = deque()
        self._ready = asyncio.Event()
        self._ended = False
        self.overflowed = False
        self._after = -1  # live changes up to this version were already told (or skipped)

    def _start(
        self, first: list[Change], listed: Sequence[Body], synced: Change, after: int
    ) -> None:
        self._after = after
        self._first.extend(c for c in map(self._see, first) if c is not None)
        self._listed, self._synced = listed, synced
        self._ready.set()

    def _next(self) -> Change | None:
        """The next change held (None: none now), in order."""
        if self._first:
            return self._first.popleft()
        while self._at < len(self._listed):
            obj = self._listed[self._at]
            self._at += 1
            seen = self._see(Change(Kind.ADDED, obj, version_of(obj)))
            if seen is not None:
                return seen
        self._listed = ()  # read through: bodies replaced since are not kept alive by it
        if self._synced is not None:
            synced, self._synced = self._synced, None
            return synced
        return self._buffer.popleft() if self._buffer else None

    def _see(self, change: Change) -> Change | None:
        if self._namespace is not None and _namespace(change.obj) not in (None, self._namespace):
            return None
        return _seen(change, self._where)

    def _push(self, change: Change) -> None:
        try:
            seen = self._see(change)
        except Exception:
            # A filter that fails ends its own subscription, never the informer's loop.
            logger.exception("a subscriber's filter failed on %s; dropped", _name(change.obj or {}))
            self._end()
            return
        if seen is None or self._ended or change.version <= self._after:
            return
        if len(self._buffer) >= self._size:
            # Behind by a whole buffer: let go of it all, say so once, and end.
            self._buffer.clear()
            self._buffer.append(Change(Kind.OVERFLOW, None, 0))
            self.overflowed = True
            self._end()
        else:
            self._buffer.append(seen)
        self._ready.set()

    def _end(self) -> None:
        self._ended = True
        self._informer._drop(self)
        self._ready.set()

    def close(self) -> None:
        """Stop receiving; what is buffered is dropped."""
        self._first.clear()
        self._listed, self._synced = (), None
        self._buffer.clear()
        self._end()

    def __aiter__(self) -> Subscription:
        return self

    async def batch(self, most: int) -> list[Change]:
        """What is ready, in order, up to `most` changes (waiting for one); [] once it
        has ended. A burst costs its reader one wake-up, not one per change."""
        while True:
            taken = self._take(most)
            if taken or self._ended:
                return taken
            self._ready.clear()
            await self._ready.wait()

    def _take(self, most: int) -> list[Change]:
        taken: list[Change] = []
        while len(taken) < most and (change := self._next()) is not None:
            taken.append(change)
        return taken

    async def __anext__(self) -> Change:
        changes = await self.batch(1)
        if not changes:
            raise StopAsyncIteration
        return changes[0]

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _GoneError(Exception):
    """The version watched from is too old (410): list again."""


class Informer:
    """The list-watch of `path` (a collection: `.../namespaces/ns/hopperinstances`, or
    the same without the namespace for all of them). Starts at the first `start()`."""

    def __init__(self, kube: Kube, path: str, *, history: int = HISTORY) -> None:
        self.kube, self.path = kube, path
        self._objects: dict[str, Body] = {}
        self.version = 0  # the resourceVersion the informer's set is as of
        self._advanced = asyncio.Event()  # set (and replaced) as the version moves on
        self._history: deque[Change] = deque(maxlen=history)
        self._floor = 0  # a resume point older than this: reset (forgotten or never seen)
        self._holes: list[tuple[int, int]] = []  # (from, to): relisted over, not watched
        self._subscribers: set[Subscription] = set()
        self._listed: dict[str | None, tuple[Body, ...]] = {}  # snapshots, until a change
        self._synced = asyncio.Event()
        self._healthy = False
        self._task: asyncio.Task[None] | None = None

    # What it holds ------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Listed, and its watch connected: what it holds is as new as the API server's."""
        return self._healthy

    async def synced(self) -> None:
        """Until the first list is done (starting the informer if need be)."""
        self.start()
        await self._synced.wait()

    async def reached(self, version: int) -> None:
        """Until the informer has seen everything up to `version` (say, a write of ours)."""
        await self.synced()
        while self.version < version:
            await self._advanced.wait()

    def _advance(self, version: int) -> None:
        if version > self.version:
            self.version = version
            self._advanced.set()
            self._advanced = asyncio.Event()

    def get(self, namespace: str, name: str) -> Body | None:
        return self._objects.get(f"{namespace}/{name}")

    def objects(self, namespace: str | None = None) -> list[Body]:
        every = self._objects.values()
        return [o for o in every if namespace is None or _namespace(o) == namespace]

    # Subscribers ----------------------------------------------------------------------

    async def subscribe(
        self,
        *,
        after: int | None = None,
        where: Where | None = None,
        buffer: int = BUFFER,
        future: bool = True,
        namespace: str | None = None,
    ) -> Subscription:
        """Changes from now on, after a snapshot (`after` None), or after the version
        `after`. A version older than what the informer can replay (or `future` False and
        a version it has not reached) starts with `reset` and a snapshot instead. Waits
        for the first list; the snapshot and the registration then happen at once."""
        await self.synced()
        subscription = Subscription(self, where, buffer, namespace)
        first: list[Change] = []
        listed: Sequence[Body] = ()
        if after is not None and self._can_replay(after, future=future):
            first = [c for c in self._history if c.version > after]
        else:
            first = [] if after is None else [Change(Kind.RESET, None, 0)]
            listed, after = self._snapshot(namespace), -1
        synced = Change(Kind.SYNCED, None, self.version)
        subscription._start(first, listed, synced, after)
        self._subscribers.add(subscription)
        return subscription

    def _snapshot(self, namespace: str | None) -> tuple[Body, ...]:
        """What it holds, in the order it last changed: a subscriber cut off during the
        snapshot may resume after the last version it got (what it misses changed later)."""
        listed = self._listed.get(namespace)
        if listed is None:
            listed = tuple(sorted(self.objects(namespace), key=version_of))
            self._listed[namespace] = listed
        return listed

    def _can_replay(self, after: int, *, future: bool) -> bool:
        if after < self._floor or (after > self.version and not future):
            return False
        if any(start < after < end for start, end in self._holes):
            # Inside a relist's span: only a point the relist's changes carry is known.
            return any(change.version == after for change in self._history)
        return True

    def _drop(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def _publish(self, change: Change) -> None:
        self._listed.clear()  # what it holds has changed (just before this)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].version
            self._holes = [(s, e) for s, e in self._holes if e > self._floor]
        self._history.append(change)
        self._advance(change.version)
        for subscription in list(self._subscribers):
            subscription._push(change)

    # The list-watch -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer {self.path}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subscription in list(self._subscribers):
            subscription._end()

    async def _run(self) -> None:
        delay, relist = BACKOFF[0], True
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                await self._watch()
                delay = BACKOFF[0]
            except _GoneError:
                relist = True
            except TRANSIENT_ERRORS as error:
                self._healthy = False
                logger.warning("%s: watch broken (%r); again in %.1f s", self.path, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF[1])
            except Exception:
                # Never a task that died unseen, leaving an informer that says it is whole.
                self._healthy, relist = False, True
                logger.exception("%s: informer failed; listing again", self.path)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF[1])

    async def _list(self) -> tuple[dict[str, Body], int]:
        """Every object, page by page, and the version of the first page (the others are
        served as of it)."""
        while True:
            try:
                return await self._pages()
            except KubeError as error:
                if error.status != 410:  # 410: a continue token expired; start over
                    raise

    async def _pages(self) -> tuple[dict[str, Body], int]:
        page = await self.kube.request("GET", self.path, query={"limit": str(PAGE)})
        version = int(page["metadata"]["resourceVersion"])
        objects: dict[str, Body] = {}
        while True:
            objects.update((_name(obj), obj) for obj in page.get("items") or ())
            token = page["metadata"].get("continue")
            if not token:
                return objects, version
            query = {"limit": str(PAGE), "continue": token}
            page = await self.kube.request("GET", self.path, query=query)

    async def _relist(self) -> None:
        fresh, version = await self._list()
        if self._synced.is_set():
            self._tell_difference(fresh, version)
        else:
            self._floor = version
        self._objects = fresh
        self._listed.clear()
        self._advance(version)
        self._healthy = True
        self._synced.set()

    def _tell_difference(self, fresh: dict[str, Body], version: int) -> None:
        """What changed between what was held and a list at `version`: changed objects
        in the order they changed (each at its own version), then what vanished. Deletions
        carry no version of their own: they take the last free ones up to the list's."""
        before, held = self.version, self._objects
        changed = sorted(
            (obj for key, obj in fresh.items() if version_of(held.get(key)) != version_of(obj)),
            key=version_of,
        )
        for obj in changed:
            old = held.get(_name(obj))
            kind = Kind.ADDED if old is None else Kind.MODIFIED
            self._objects[_name(obj)] = obj
            self._publish(Change(kind, obj, version_of(obj), old))
        gone = [obj for key, obj in held.items() if key not in fresh]
        last = self.version
        for index, obj in enumerate(gone):
            at = max(last + 1, version - len(gone) + 1 + index)
            self._publish(Change(Kind.DELETED, obj, min(at, version), obj))
            last = min(at, version)
        if version > before:
            self._holes.append((before, version))

    async def _watch(self) -> None:
        query = {
            "resourceVersion": str(self.version),
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_TIMEOUT),
        }
        try:
            async for event in self.kube.watch(self.path, query, opened=self._opened):
                self._apply(str(event.get("type")), event.get("object") or {})
        except KubeError as error:
            if error.status == 410:
                raise _GoneError from error
            raise

    def _opened(self) -> None:
        self._healthy = True

    def _apply(self, kind: str, obj: Body) -> None:
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _GoneError
            raise KubeError(int(obj.get("code") or 500), str(obj.get("message")))
        version = version_of(obj)
        if kind == "BOOKMARK":
            self._advance(version)
            return
        key = _name(obj)
        old = self._objects.get(key)
        if kind == "DELETED":
            self._objects.pop(key, None)
            self._publish(Change(Kind.DELETED, obj, version, old))
        elif kind in ("ADDED", "MODIFIED"):
            self._objects[key] = obj
            self._publish(Change(Kind.ADDED if old is None else Kind.MODIFIED, obj, version, old))


class View:
    """One namespace of an informer (of that namespace, or of all of them): what it holds
    there, and subscriptions to its changes there."""

    def __init__(self, informer: Informer, namespace: str) -> None:
        self.informer, self.namespace = informer, namespace
        # As `Informer.subscribe`: this namespace's objects only.
        self.subscribe = functools.partial(informer.subscribe, namespace=namespace)

    @property
    def version(self) -> int:
        return self.informer.version

    @property
    def healthy(self) -> bool:
        return self.informer.healthy

    async def synced(self) -> None:
        await self.informer.synced()

    async def reached(self, version: int) -> None:
        await self.informer.reached(version)

    def get(self, name: str) -> Body | None:
        return self.informer.get(self.namespace, name)

    def objects(self) -> list[Body]:
        return self.informer.objects(self.namespace)


class Informers:
    """The process's informers of one collection, by namespace: one per namespace, each
    started at its first use; or, given `everywhere` (the collection across namespaces),
    one for all of them, started with `start()`, that every namespace is a view of.

    Everywhere, what a replica can replay reaches back to its own start, whichever
    namespaces it was asked about: a client resuming on it, after another replica served
    it, finds its resource version there (they are the cluster's, not a replica's)."""

    def __init__(
        self,
        kube: Kube,
        path: Callable[[str], str],
        *,
        everywhere: str | None = None,
        history: int = HISTORY,
    ) -> None:
        self.kube, self._path, self._history = kube, path, history
        self._informers: dict[str, Informer] = {}
        self._everywhere = None if everywhere is None else self._informer(everywhere)

    def _informer(self, path: str) -> Informer:
        informer = self._informers.get(path)
        if informer is None:
            informer = self._informers[path] = Informer(self.kube, path, history=self._history)
        return informer

    def start(self) -> None:
        """Start the all-namespaces informer now (else at the first `of`)."""
        if self._everywhere is not None:
            self._everywhere.start()

    async def synced(self) -> None:
        """Until what is read everywhere is listed (starting it if need be); at once per
        namespace (each lists at its first use)."""
        if self._everywhere is not None:
            await self._everywhere.synced()

    def of(self, namespace: str) -> View:
        informer = self._everywhere or self._informer(self._path(namespace))
        informer.start()
        return View(informer, namespace)

    async def close(self) -> None:
        for informer in self._informers.values():
            await informer.close()
