"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics.

Why not kubernetes_asyncio's `leaderelection` (read in 36.1): an attempt has no time
limit, so a renewal hanging on a frozen etcd keeps the old leader "leading" past its renew
deadline; a connection error escapes `run()` and ends the election; the lease is never
released on shutdown; `run()` returns for good after one lost term; and its times are wall
clock, local time written with a "Z". This one is small, runs over the project's own client
and keeps three promises:

- a replica is sure it leads only until `renew deadline` after the start of its last
  successful renewal (a monotonic clock, which keeps counting while the process is frozen),
  and `leading()` says so at the instant it is asked, whatever the renew loop is doing;
- other candidates take over only `lease duration` after they last saw the record change,
  and lease duration > renew deadline: two replicas are never both sure they lead;
- `release()` clears the holder, so a standby takes over at its next retry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict, cast

from hopper_operator.kube.client import TRANSIENT_ERRORS, ConflictError, Kube, NotFoundError
from hopper_operator.kube.versions import guarded

logger = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "hopper-operator"


class LeaseSpec(TypedDict, total=False):
    holderIdentity: str | None
    leaseDurationSeconds: int
    acquireTime: str
    renewTime: str
    leaseTransitions: int


class LeaseMetadata(TypedDict):
    resourceVersion: str


class Lease(TypedDict, total=False):
    """A coordination.k8s.io/v1 Lease, the fields read here."""

    metadata: LeaseMetadata
    spec: LeaseSpec


@dataclass(frozen=True)
class LeaseTimings:
    """controller-runtime's defaults."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease duration > renew deadline > retry period > 0")


def new_identity() -> str:
    """The pod's name (downward API) or the host name, plus a random suffix: a restarted
    container is a new candidate, never mistaken for the holder it replaces."""
    base = os.environ.get("POD_NAME") or socket.gethostname()
    return f"{base}_{secrets.token_hex(4)}"


def lease_path(namespace: str, name: str = "") -> str:
    base = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # a MicroTime


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        identity: str,
        timings: LeaseTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        self._path = lease_path(namespace, name)
        self._name = name
        self.identity = identity
        self.timings = timings or LeaseTimings()
        self._clock = clock
        self._now = now
        self._lease: Lease | None = None  # as last read or written
        self._observed_at = 0.0  # when the record last changed, to our knowledge
        self._valid_until = float("-inf")

    def leading(self) -> bool:
        """Sure to lead right now: the last renewal is younger than the renew deadline."""
        return self._clock() < self._valid_until

    async def run(self, *, on_started: Callable[[], None], on_stopped: Callable[[], None]) -> None:
        """Campaign, lead, and after a lost term campaign again, until cancelled."""
        while True:
            await self._acquire()
            logger.info("leader election: %s leads (Lease %s)", self.identity, self._path)
            on_started()
            try:
                await self._keep()
            finally:
                self._valid_until = float("-inf")
                on_stopped()
            logger.warning("leader election: %s lost the lease; standing by", self.identity)
            # Campaign from a fresh read: what we last wrote may have been taken over since,
            # and a write on a stale version would be a write by a replica that does not lead.
            # (Not when cancelled: release() still needs it.)
            self._lease = None

    async def release(self) -> None:
        """Give the lease up if we hold it: clear the holder, so a standby need not wait
        for it to expire. Writes stop being sure at once, before the request."""
        self._valid_until = float("-inf")
        if not self._holds():
            return
        assert self._lease is not None
        stamp = _stamp(self._now())
        released: LeaseSpec = {
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "acquireTime": stamp,
            "renewTime": stamp,
        }
        patch = guarded({"spec": released}, self._lease["metadata"]["resourceVersion"])
        try:
            async with asyncio.timeout(self.timings.retry_period):
                self._lease = cast(Lease, await self._kube.merge_patch(self._path, patch))
            logger.info("leader election: %s released the lease", self.identity)
        except TRANSIENT_ERRORS as error:  # it expires on its own; nothing else to do
            logger.warning("leader election: could not release the lease: %s", error)

    # -- campaigning and renewing ----------------------------------------------------------

    async def _acquire(self) -> None:
        # Polling, as client-go does: a standby learns of a release at its next retry.
        while True:
            if await self._attempt_in_time(self.timings.renew_deadline):
                return
            # A little jitter keeps several standbys from asking in lockstep.
            await asyncio.sleep(self.timings.retry_period * random.uniform(1.0, 1.2))

    async def _keep(self) -> None:
        """Renew every retry period; return once a renewal cannot succeed in time."""
        while True:
            await asyncio.sleep(self.timings.retry_period)
            while not await self._attempt_in_time(self._valid_until - self._clock()):
                if not self.leading() or not self._holds():
                    return
                await asyncio.sleep(
                    min(self.timings.retry_period, self._valid_until - self._clock())
                )

    async def _attempt_in_time(self, limit: float) -> bool:
        if limit <= 0:
            return False
        started = self._clock()
        try:
            async with asyncio.timeout(limit):
                won = await self._attempt()
        except TRANSIENT_ERRORS as error:
            logger.debug("leader election: attempt failed: %r", error)
            return False
        except Exception:  # a bug, or a Lease someone mangled: not sure, so not leading
            logger.exception("leader election: unexpected error")
            self._lease = None
            return False
        if won:
            self._valid_until = started + self.timings.renew_deadline
        return won

    async def _attempt(self) -> bool:
        """One try to take or renew the lease; True when we hold it now."""
        if not self._holds():
            try:
                self._observe(await self._kube.request("GET", self._path))
            except NotFoundError:
                return await self._create()
            assert self._lease is not None
            holder = self._lease.get("spec", {}).get("holderIdentity")
            expires = self._observed_at + self.timings.lease_duration
            if holder and holder != self.identity and self._clock() < expires:
                return False
        return await self._take()

    async def _create(self) -> bool:
        stamp = _stamp(self._now())
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._name},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": round(self.timings.lease_duration),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            self._observe(await self._kube.create(self._path.rsplit("/", 1)[0], body))
        except ConflictError:
            return False  # another candidate created it first
        return True

    async def _take(self) -> bool:
        """Write ourselves as holder, on the condition that nobody wrote in between."""
        assert self._lease is not None
        spec = self._lease.get("spec", {})
        stamp = _stamp(self._now())
        changes: LeaseSpec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": round(self.timings.lease_duration),
            "renewTime": stamp,
        }
        if spec.get("holderIdentity") != self.identity:
            changes["acquireTime"] = stamp
            changes["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
        patch = guarded({"spec": changes}, self._lease["metadata"]["resourceVersion"])
        try:
            self._observe(await self._kube.merge_patch(self._path, patch))
        except ConflictError:
            self._lease = None  # someone else wrote it: read it again next time
            return False
        return True

    def _holds(self) -> bool:
        return (
            self._lease is not None
            and self._lease.get("spec", {}).get("holderIdentity") == self.identity
        )

    def _observe(self, read: Mapping[str, object]) -> None:
        lease = cast(Lease, read)
        before = self._lease["metadata"]["resourceVersion"] if self._lease else None
        if lease["metadata"]["resourceVersion"] != before:
            self._observed_at = self._clock()
        self._lease = lease
