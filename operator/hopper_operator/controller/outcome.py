"""How a reconcile ends, and what that does to its key: controller-runtime's `Result` and
its `reconcileHandler`, in one place.

The reconciler decides and never touches the queue; `conclude` is the one place to read to
know what happens to a key. A key leaves the queue only by being done or gone: every
failure comes back (after its backoff), and nothing hot-loops, since only a conflict or a
refused write comes back after a fixed pause, and neither lasts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import Enum

from hopper_operator.controller.queue import KeyQueue
from hopper_operator.controller.records import Key, KeyRecord, Notes, Records, learned
from hopper_operator.kube.client import (
    TRANSIENT_ERRORS,
    ConflictError,
    NotFoundError,
    WriteRefusedError,
)
from hopper_operator.kube.versions import revision

logger = logging.getLogger(__name__)

CONFLICT_RETRY_SECONDS = 0.5  # the watch brings the newer object meanwhile
REFUSED_RETRY_SECONDS = 1.0  # a worker not yet stopped must not spin on it


@dataclass(frozen=True)
class Done:
    """Reconciled: the key's failures are forgotten; look again `after` seconds, if set."""

    after: float | None = None
    notes: Notes | None = None  # what the pass learned for the key's record


@dataclass(frozen=True)
class Requeue:
    """Neither done nor failed: look again `after` seconds (a conflict, a refused write)."""

    after: float
    notes: Notes | None = None


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
    notes: Notes | None = None

    @property
    def retry_after(self) -> float | None:
        return getattr(self.error, "retry_after", None)


@dataclass(frozen=True)
class Gone:
    """The object is gone: nothing left to reconcile."""


@dataclass(frozen=True)
class Behind:
    """The index has not yet shown our own last write: its echo queues the key again."""


@dataclass(frozen=True)
class Stopped:
    """The worker was stopped mid-pass (leadership lost, shutdown): the queue took the key
    back itself; the record learns what the pass wrote, and that it decided nothing."""


Outcome = Done | Requeue | Retry | Gone | Behind | Stopped


def failed(
    error: Exception, resource_version: str, after: float | None, notes: Notes | None = None
) -> Outcome:
    """The outcome of a pass that raised `error`, having asked to come back `after`."""
    if isinstance(error, ConflictError):
        return Requeue(_earliest(CONFLICT_RETRY_SECONDS, after), notes)
    if isinstance(error, WriteRefusedError):
        # No longer sure to lead: the workers are being stopped; whoever leads next takes it.
        return Requeue(_earliest(REFUSED_RETRY_SECONDS, after), notes)
    # A 404 is retried too: it may be of something else (its namespace going, say).
    failure = (
        Failure.NOT_FOUND
        if isinstance(error, NotFoundError)
        else Failure.TRANSIENT
        if isinstance(error, TRANSIENT_ERRORS)
        else Failure.UNEXPECTED
    )
    return Retry(error, failure, resource_version, after, notes)


def _earliest(delay: float, after: float | None) -> float:
    return delay if after is None else min(delay, after)


def conclude(outcome: Outcome, key: Key, *, queue: KeyQueue, records: Records) -> None:
    """What `outcome` does to `key`: its queue operations and its record, the one place
    either changes."""
    record = records[key]
    match outcome:
        case Done(after, notes):
            records.set_record(key, replace(_learned(record, notes), failed_at=None))
            queue.forget(key)
        case Requeue(after, notes):
            records.set_record(key, _learned(record, notes))
        case Retry(after=after, notes=notes):
            record = _learned(record, notes)
            # What we wrote ourselves before failing is not news: it must not reset the backoff.
            failed_at = max(revision(outcome.resource_version), record.expected)
            records.set_record(key, replace(record, failed_at=failed_at))
            delay = queue.add_rate_limited(key, outcome.retry_after)
            _log_retry(key, outcome, delay)
        case Gone():
            records.set_record(key, None)
            queue.forget(key)
            return
        case Behind():
            records.set_record(key, replace(record, decided=0, config_hash=None))
            return
        case Stopped():
            notes = records.under_way(key) or Notes()
            notes.not_at_rest()
            records.set_record(key, learned(record, notes))
            return
    if after is not None:
        queue.add(key, after)


def _learned(record: KeyRecord, notes: Notes | None) -> KeyRecord:
    return record if notes is None else learned(record, notes)


def _log_retry(key: Key, retry: Retry, delay: float) -> None:
    if retry.failure is Failure.UNEXPECTED:
        message = "unexpected error reconciling %s/%s (%r); retry in %.1fs"
        logger.error(message, *key, retry.error, delay, exc_info=retry.error)
        return
    level = logging.DEBUG if retry.failure is Failure.NOT_FOUND else logging.WARNING
    message = "reconcile of %s/%s failed (%r); retry in %.1fs"
    logger.log(level, message, *key, retry.error, delay)
