"""The Lease elector's promises, against an in-memory Lease store with the API server's
optimistic concurrency (resourceVersion preconditions, 404, 409) and injectable faults.

The timings are scaled down (lease 0.6 s, renew deadline 0.4 s, retry 0.05 s) so that every
scenario runs in real time in well under a second or two; the integration tests run the
real thing against the real API server with the default timings.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hopper_operator.controller.leader import LeaderElector, LeaseTimings
from hopper_operator.kube.client import ConflictError, NotFoundError
from hopper_operator.kube.login import own_namespace

TIMINGS = LeaseTimings(lease_duration=0.6, renew_deadline=0.4, retry_period=0.05)
PATH = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/hopper-operator"


class LeaseStore:
    """Plays the API server for one Lease: the requests the elector makes, nothing more."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self._versions = itertools.count(1)
        self.fault: Callable[[], Any] | None = None  # raises, or returns an awaitable to stall
        self.writes: list[str | None] = []  # holder written, in order

    async def _maybe_fail(self) -> None:
        if self.fault is not None:
            stall = self.fault()
            if stall is not None:
                await stall

    def client(self) -> FakeKube:
        return FakeKube(self)


class FakeKube:
    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.paused: asyncio.Event | None = None  # this client's requests wait for it

    async def _stall(self) -> None:
        if self.paused is not None:
            await self.paused.wait()
        await self.store._maybe_fail()

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("GET", PATH)
        await self._stall()
        if self.store.lease is None:
            raise NotFoundError(404, "not found")
        return copy.deepcopy(self.store.lease)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == PATH.rsplit("/", 1)[0]
        await self._stall()
        if self.store.lease is not None:
            raise ConflictError(409, "exists")
        lease = copy.deepcopy(body)
        lease["metadata"]["resourceVersion"] = str(next(self.store._versions))
        self.store.lease = lease
        self.store.writes.append(lease["spec"]["holderIdentity"])
        return copy.deepcopy(lease)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == PATH
        await self._stall()
        lease = self.store.lease
        assert lease is not None
        if body["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"]:
            raise ConflictError(409, "the object has been modified")
        for key, value in body["spec"].items():
            if value is None:
                lease["spec"].pop(key, None)
            else:
                lease["spec"][key] = value
        lease["metadata"]["resourceVersion"] = str(next(self.store._versions))
        self.store.writes.append(lease["spec"].get("holderIdentity"))
        return copy.deepcopy(lease)


class Candidate:
    """An elector running in a task, with what its callbacks saw."""

    def __init__(self, store: LeaseStore, identity: str, clock: Callable[[], float]) -> None:
        self.kube = store.client()
        self.elector = LeaderElector(
            self.kube,  # type: ignore[arg-type]
            namespace="ns",
            identity=identity,
            timings=TIMINGS,
            clock=clock,
        )
        self.events: list[tuple[str, float]] = []
        self.task = asyncio.create_task(
            self.elector.run(
                on_started=lambda: self.events.append(("started", time.monotonic())),
                on_stopped=lambda: self.events.append(("stopped", time.monotonic())),
            )
        )

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def wait_until(condition: Callable[[], bool], within: float = 3.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within, "timed out"
        await asyncio.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def store() -> LeaseStore:
    return LeaseStore()


async def test_exactly_one_of_two_leads_and_renewal_keeps_it(store: LeaseStore) -> None:
    a = Candidate(store, "a", time.monotonic)
    b = Candidate(store, "b", time.monotonic)
    try:
        await wait_until(lambda: a.elector.leading() or b.elector.leading())
        leader, standby = (a, b) if a.elector.leading() else (b, a)
        # Several lease durations later: still the same leader, renewing, the other waiting.
        for _ in range(40):
            await asyncio.sleep(0.05)
            assert leader.elector.leading() and not standby.elector.leading()
        assert store.lease is not None
        assert store.lease["spec"]["holderIdentity"] == leader.elector.identity
        assert store.lease["spec"]["leaseDurationSeconds"] == 1  # rounded from 0.6
        assert standby.events == []
        assert set(store.writes) == {leader.elector.identity}
    finally:
        await a.stop()
        await b.stop()


async def test_release_hands_over_at_the_standbys_next_retry(store: LeaseStore) -> None:
    a = Candidate(store, "a", time.monotonic)
    await wait_until(a.elector.leading)
    b = Candidate(store, "b", time.monotonic)
    try:
        await asyncio.sleep(0.2)
        assert not b.elector.leading()
        await a.stop()
        await a.elector.release()
        assert store.lease is not None
        assert "holderIdentity" not in store.lease["spec"]
        assert not a.elector.leading()
        # Not after the lease duration: within a retry period or so.
        took = await wait_until(b.elector.leading)
        assert took < TIMINGS.retry_period * 3, took
        assert store.lease["spec"]["leaseTransitions"] == 1
    finally:
        await b.stop()


async def test_a_standby_waits_out_the_lease_of_a_vanished_leader(store: LeaseStore) -> None:
    a = Candidate(store, "a", time.monotonic)
    await wait_until(a.elector.leading)
    b = Candidate(store, "b", time.monotonic)
    try:
        await asyncio.sleep(0.1)
        await a.stop()  # killed: no release
        killed = time.monotonic()
        both = False

        def b_leads() -> bool:
            nonlocal both
            both = both or (a.elector.leading() and b.elector.leading())
            return b.elector.leading()

        await wait_until(b_leads)
        waited = time.monotonic() - killed
        assert not both
        # Not before the lease (less the time a had already been observed) ran out...
        assert waited > TIMINGS.lease_duration - 0.15, waited
        # ...and soon after.
        assert waited < TIMINGS.lease_duration + 4 * TIMINGS.retry_period, waited
    finally:
        await b.stop()


async def test_a_hanging_renewal_stops_the_leader_at_its_renew_deadline(
    store: LeaseStore,
) -> None:
    a = Candidate(store, "a", time.monotonic)
    try:
        await wait_until(a.elector.leading)
        frozen = asyncio.Event()
        store.fault = frozen.wait  # every request now hangs, as on a frozen etcd
        hung = time.monotonic()
        await wait_until(lambda: ("stopped", 0) in [(e, 0) for e, _ in a.events])
        stopped_at = a.events[-1][1]
        # On time: by the renew deadline after the last good renewal, not later.
        assert stopped_at - hung <= TIMINGS.renew_deadline + 0.05, stopped_at - hung
        assert not a.elector.leading()
        # Once the API answers again, it campaigns and wins (nobody else is there).
        store.fault = None
        frozen.set()
        await wait_until(a.elector.leading)
        assert [e for e, _ in a.events] == ["started", "stopped", "started"]
    finally:
        await a.stop()


async def test_transient_errors_neither_end_the_term_early_nor_the_election(
    store: LeaseStore,
) -> None:
    a = Candidate(store, "a", time.monotonic)
    try:
        await wait_until(a.elector.leading)
        failures = itertools.cycle([True, True, False])  # two of three requests fail

        def flaky() -> None:
            if next(failures):
                raise aiohttp.ServerDisconnectedError()

        store.fault = flaky
        for _ in range(20):
            await asyncio.sleep(0.05)
            assert a.elector.leading()
        # And when every request fails: the term ends, the election goes on.
        store.fault = lambda: (_ for _ in ()).throw(aiohttp.ClientConnectionError("reset"))
        await wait_until(lambda: not a.elector.leading())
        store.fault = None
        await wait_until(a.elector.leading)
        assert not a.task.done()
    finally:
        await a.stop()


async def test_a_frozen_leader_is_not_sure_it_leads_the_moment_it_wakes(
    store: LeaseStore,
) -> None:
    # SIGSTOP stops the process, not the monotonic clock: model the freeze as a jump.
    offset = 0.0
    a = Candidate(store, "a", lambda: time.monotonic() + offset)
    try:
        await wait_until(a.elector.leading)
        offset = TIMINGS.renew_deadline + 0.01
        assert not a.elector.leading()  # before any of its tasks has run again
    finally:
        await a.stop()


async def test_split_brain_a_cut_off_leader_never_leads_beside_the_new_one(
    store: LeaseStore,
) -> None:
    a = Candidate(store, "a", time.monotonic)
    await wait_until(a.elector.leading)
    b = Candidate(store, "b", time.monotonic)
    a.kube.paused = asyncio.Event()  # a's requests hang: cut off from the API server
    both = False

    def b_leads() -> bool:
        nonlocal both
        both = both or (a.elector.leading() and b.elector.leading())
        return b.elector.leading()

    try:
        await wait_until(b_leads, within=TIMINGS.lease_duration + 1)
        a.kube.paused.set()  # back: its stalled renewal lands with a stale resourceVersion
        for _ in range(20):
            await asyncio.sleep(0.05)
            b_leads()
        assert not both
        assert not a.elector.leading() and b.elector.leading()
        assert store.lease is not None and store.lease["spec"]["holderIdentity"] == "b"
    finally:
        await a.stop()
        await b.stop()


async def test_release_without_the_lease_writes_nothing(store: LeaseStore) -> None:
    a = Candidate(store, "a", time.monotonic)
    await wait_until(a.elector.leading)
    b = Candidate(store, "b", time.monotonic)
    await asyncio.sleep(0.1)
    await b.stop()
    writes = list(store.writes)
    await b.elector.release()
    assert store.writes == writes
    await a.stop()


def test_timings_must_leave_a_margin() -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline"):
        LeaseTimings(lease_duration=10, renew_deadline=10, retry_period=2)


def test_lease_namespace_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "hopper-system")
    assert own_namespace("flag", ["a"]) == "flag"
    assert own_namespace(None, ["a"]) == "hopper-system"
    monkeypatch.delenv("POD_NAMESPACE")
    monkeypatch.setattr("hopper_operator.kube.login.SERVICE_ACCOUNT", Path("/nonexistent"))
    assert own_namespace(None, ["a", "b"]) == "a"
    assert own_namespace(None, []) == "default"


async def test_the_client_refuses_writes_while_not_sure_and_says_who_writes() -> None:
    import kopf

    from hopper_operator.kube.client import Kube, WriteRefusedError

    def login() -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server="https://127.0.0.1:1")  # nothing listens there

    sure = False
    async with Kube(login, identity="pod-a_1234", may_write=lambda: sure) as kube:
        for method in ("POST", "PATCH", "PUT", "DELETE"):
            with pytest.raises(WriteRefusedError):
                await kube.request(method, "/api/v1/namespaces/ns/events", body={})
        sure = True
        with pytest.raises(aiohttp.ClientError):  # allowed now: it reaches the transport
            await kube.request("POST", "/api/v1/namespaces/ns/events", body={})
        assert kube._headers["User-Agent"] == "hopper-operator/0.1 (pod-a_1234)"
