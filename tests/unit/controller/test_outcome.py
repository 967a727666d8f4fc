"""Every outcome of a reconcile, and what it does to its key: controller-runtime's
reconcileHandler, one kind at a time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp
import pytest

from hopper_operator.controller.loop import result_of
from hopper_operator.controller.metrics import Result
from hopper_operator.controller.outcome import (
    CONFLICT_RETRY_SECONDS,
    REFUSED_RETRY_SECONDS,
    Behind,
    Done,
    Failure,
    Gone,
    Outcome,
    Requeue,
    Retry,
    Stopped,
    conclude,
    failed,
)
from hopper_operator.controller.records import Key, KeyRecord, Notes, Records
from hopper_operator.kube.client import ConflictError, KubeError, NotFoundError, WriteRefusedError

KEY: Key = ("ns", "acme")
RETRY_DELAY = 2.0


@dataclass
class Ops:
    """Records the queue operations made, in order."""

    calls: list[tuple[str, float | None]] = field(default_factory=list)

    def add(self, key: Key, delay: float = 0.0) -> None:
        self.calls.append(("add", delay))

    def add_rate_limited(self, key: Key, retry_after: float | None = None) -> float:
        self.calls.append(("add_rate_limited", retry_after))
        return RETRY_DELAY

    def forget(self, key: Key) -> None:
        self.calls.append(("forget", None))


def ops(outcome: Outcome, records: Records | None = None) -> list[tuple[str, float | None]]:
    queue = Ops()
    conclude(outcome, KEY, queue=queue, records=records or Records())
    return queue.calls


def test_done_forgets_the_failures_and_adds_after_only_when_asked() -> None:
    assert ops(Done()) == [("forget", None)]
    assert ops(Done(after=30.0)) == [("forget", None), ("add", 30.0)]


def test_requeue_adds_after_its_delay_and_keeps_the_backoff() -> None:
    assert ops(Requeue(0.5)) == [("add", 0.5)]


def test_retry_is_a_rate_limited_add_with_the_servers_floor() -> None:
    error = KubeError(429, "too many requests", retry_after=7.0)
    assert ops(Retry(error, Failure.TRANSIENT, "10")) == [("add_rate_limited", 7.0)]
    asked = Retry(KubeError(500, "etcd"), Failure.TRANSIENT, "10", after=30.0)
    assert ops(asked) == [("add_rate_limited", None), ("add", 30.0)]


def test_gone_forgets_and_behind_does_nothing_to_the_queue() -> None:
    assert ops(Gone()) == [("forget", None)]
    assert ops(Behind()) == []


def test_the_record_follows_the_outcome() -> None:
    records = Records()
    ops(Done(notes=Notes(decided=20, config_hash="abc")), records)
    assert records.decided_on(KEY, "20") and records.holds_config(KEY, "abc")
    ops(Behind(), records)  # the echo of our own write must wake a pass
    assert not records.decided_on(KEY, "20")
    ops(Retry(KubeError(500, "etcd"), Failure.TRANSIENT, "21", notes=Notes(written=25)), records)
    assert records[KEY] == KeyRecord(expected=25, failed_at=25)  # our own write is not news
    assert not records.failed_before(KEY, "25") and records.failed_before(KEY, "26")
    ops(Retry(KubeError(500, "etcd"), Failure.TRANSIENT, "30"), records)
    ops(Done(), records)
    assert records[KEY].failed_at is None
    ops(Gone(), records)
    assert records._records == {}


def test_a_pass_under_way_is_read_beside_the_record_and_concluded_into_it() -> None:
    records = Records()
    ops(Done(notes=Notes(written=10, decided=10, config_hash="abc")), records)
    notes = records.begin(KEY)
    assert records.decided_on(KEY, "10")  # nothing decided yet: the record stands
    notes.wrote("12")
    notes.at_rest("12")  # the echo of its write arrives while it sends the next one
    assert records.decided_on(KEY, "12") and not records.holds_config(KEY, "abc")
    assert records[KEY].expected == 10  # the record itself waits for the outcome
    ops(Requeue(0.5, notes), records)
    assert records[KEY] == KeyRecord(expected=12, decided=12)
    assert records.under_way(KEY) is None


def test_a_stopped_pass_leaves_what_it_wrote_and_nothing_decided() -> None:
    records = Records()
    records.begin(KEY).wrote("7")
    assert ops(Stopped(), records) == []  # the queue took the key back itself
    assert records[KEY] == KeyRecord(expected=7)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConflictError(409, "modified"), Requeue(CONFLICT_RETRY_SECONDS)),
        (WriteRefusedError("not the leader"), Requeue(REFUSED_RETRY_SECONDS)),
        (NotFoundError(404, "gone"), Failure.NOT_FOUND),
        (KubeError(500, "etcd"), Failure.TRANSIENT),
        (KubeError(403, "forbidden"), Failure.TRANSIENT),
        (aiohttp.ServerDisconnectedError(), Failure.TRANSIENT),
        (ConnectionResetError(104, "reset"), Failure.TRANSIENT),
        (TimeoutError(), Failure.TRANSIENT),
        (RuntimeError("a bug"), Failure.UNEXPECTED),
    ],
    ids=lambda value: type(value).__name__,
)
def test_each_failure_becomes_its_outcome(error: Exception, expected: object) -> None:
    outcome = failed(error, "10", after=None)
    if isinstance(expected, Failure):
        assert outcome == Retry(error, expected, "10")
    else:
        assert outcome == expected


def test_a_requeue_asked_before_the_failure_is_kept() -> None:
    assert failed(ConflictError(409, "x"), "10", after=0.1) == Requeue(0.1)
    assert failed(ConflictError(409, "x"), "10", after=60.0) == Requeue(CONFLICT_RETRY_SECONDS)
    assert failed(KubeError(500, "x"), "10", after=60.0).after == 60.0  # type: ignore[union-attr]


def test_results_as_controller_runtime_counts_them() -> None:
    error = KubeError(500, "etcd")
    assert result_of(Done()) is Result.SUCCESS
    assert result_of(Requeue(0.5)) is Result.REQUEUE
    assert result_of(Retry(error, Failure.TRANSIENT, "1")) is Result.ERROR
    assert result_of(Retry(error, Failure.UNEXPECTED, "1")) is Result.ERROR
    assert result_of(Retry(NotFoundError(404, "x"), Failure.NOT_FOUND, "1")) is Result.REQUEUE
    assert result_of(Gone()) is None and result_of(Behind()) is None


def test_a_404_retries_quietly_and_a_bug_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ops(Retry(NotFoundError(404, "x"), Failure.NOT_FOUND, "1"))
    ops(Retry(KubeError(500, "x"), Failure.TRANSIENT, "1"))
    ops(Retry(RuntimeError("a bug"), Failure.UNEXPECTED, "1"))
    levels = [(r.levelno, bool(r.exc_info)) for r in caplog.records]
    assert levels == [(logging.DEBUG, False), (logging.WARNING, False), (logging.ERROR, True)]
