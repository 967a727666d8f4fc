"""How a reconcile ends, and what that does to its key: controller-runtime's `Result` and
its `reconcileHandler`, in one place.

The reconciler decides and never touches the queue; `conclude` is the one place to read to
know what happens to a key. A key leaves the queue only by being done or gone: every
failure comes back (after its backoff), and nothing hot-loops, since only a conflict or a
refused write comes back after a fixed pause, and neither lasts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from hopper_operator.controller.records import Key, Records
from hopper_operator.kube.client import TRANSIENT, ConflictError, NotFoundError, WriteRefusedError

logger = logging.getLogger(__name__)

CONFLICT_RETRY_SECONDS = 0.5  # the watch brings the newer object meanwhile
REFUSED_RETRY_SECONDS = 1.0  # a worker not yet stopped must not spin on it


@dataclass(frozen=True)
class Done:
    """Reconciled: the key's failures are forgotten; look again `after` seconds, if set."""

    after: float | None = None


@dataclass(frozen=True)
class Requeue:
    """Neither done nor failed: look again `after` seconds (a conflict, a refused write)."""

    after: float


class Failure(Enum):
    TRANSIENT = "transient"  # the API or the way to it: logged in one line
    NOT_FOUND = "not found"  # mostly the instance itself, gone meanwhile: a quiet requeue
    UNEXPECTED = "unexpected"  # a bug: logged with its traceback, counted apart


@dataclass(frozen=True)
class Retry:
    """Failed: again after the key's backoff (never sooner than the server asked)."""

    error: Exception
    failure: Failure
    resource_version: str  # the version it failed at: a newer one resets the backoff
    after: float | None = None  # what the pass asked for before it failed

    @property
    def retry_after(self) -> float | None:
        return getattr(self.error, "retry_after", None)


@dataclass(frozen=True)
class Gone:
    """The object is gone: nothing left to reconcile."""


@dataclass(frozen=True)
class Behind:
    """The index has not yet shown our own last write: its echo queues the key again."""


Outcome = Done | Requeue | Retry | Gone | Behind


def failed(error: Exception, resource_version: str, after: float | None) -> Outcome:
    """The outcome of a pass that raised `error`, having asked to come back `after`."""
    if isinstance(error, ConflictError):
        return Requeue(_earliest(CONFLICT_RETRY_SECONDS, after))
    if isinstance(error, WriteRefusedError):
        # No longer sure to lead: the workers are being stopped; whoever leads next takes it.
        return Requeue(_earliest(REFUSED_RETRY_SECONDS, after))
    # A 404 is retried too: it may be of something else (its namespace going, say).
    failure = (
        Failure.NOT_FOUND
        if isinstance(error, NotFoundError)
        else Failure.TRANSIENT
        if isinstance(error, TRANSIENT)
        else Failure.UNEXPECTED
    )
    return Retry(error, failure, resource_version, after)


def _earliest(delay: float, after: float | None) -> float:
    return delay if after is None else min(delay, after)


class Queue(Protocol):
    """What `conclude` does to a key: client-go's rate-limited queue, by its verbs."""

    def add(self, key: Key, delay: float = 0.0) -> None: ...

    def add_rate_limited(self, key: Key, retry_after: float | None = None) -> float: ...

    def forget(self, key: Key) -> None: ...


def conclude(outcome: Outcome, key: Key, *, queue: Queue, records: Records) -> None:
    """What `outcome` does to `key`: its queue operations and its record."""
    match outcome:
        case Done(after):
            records[key].failed_at = None
            queue.forget(key)
        case Requeue(after):
            pass
        case Retry(after=after):
            records[key].failed(outcome.resource_version)
            delay = queue.add_rate_limited(key, outcome.retry_after)
            _log_retry(key, outcome, delay)
        case Gone():
            records.drop(key)
            queue.forget(key)
            return
        case Behind():
            records[key].undecide()
            return
    if after is not None:
        queue.add(key, after)


def _log_retry(key: Key, retry: Retry, delay: float) -> None:
    if retry.failure is Failure.UNEXPECTED:
        message = "unexpected error reconciling %s/%s (%r); retry in %.1fs"
        logger.error(message, *key, retry.error, delay, exc_info=retry.error)
        return
    level = logging.DEBUG if retry.failure is Failure.NOT_FOUND else logging.WARNING
    message = "reconcile of %s/%s failed (%r); retry in %.1fs"
    logger.log(level, message, *key, retry.error, delay)
