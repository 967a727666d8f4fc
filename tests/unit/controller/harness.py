"""A controller wired to the recording client, a recording queue and indexes kept in dicts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hopper_operator.api.meta import Annotation
from hopper_operator.controller.executor import Executor
from hopper_operator.controller.indexes import Indexes
from hopper_operator.controller.loop import Controller
from hopper_operator.controller.queue import Backoff, QueueObserver
from hopper_operator.controller.reconciler import Reconciler
from hopper_operator.controller.records import Key, Records
from hopper_operator.core.config import config_map_name
from hopper_operator.core.views import instance_view
from hopper_operator.resources.paths import config_map_path, instance_path
from tests.unit.builders import NOW
from tests.unit.controller.fakes import RecordingKube


@dataclass
class Queued:
    """Stands in for the work queue: records each key's earliest requested delay."""

    keys: dict[Key, float] = field(default_factory=dict)
    observer: QueueObserver = field(default_factory=QueueObserver)
    # The real policy, without its jitter: 0.5 s, 1 s, 2 s...
    backoff: Backoff[Key] = field(default_factory=lambda: Backoff(jitter=lambda: 0.0))

    def add(self, key: Key, delay: float = 0.0) -> None:
        self.keys[key] = min(delay, self.keys.get(key, delay))

    def add_rate_limited(self, key: Key, retry_after: float | None = None) -> float:
        self.observer.retried()
        delay = self.backoff.next_delay(key, retry_after)
        self.add(key, delay)
        return delay

    def forget(self, key: Key) -> None:
        self.backoff.forget(key)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Cluster:
    """What the watches would show: the recorded client's objects, synced on demand."""

    kube: RecordingKube = field(default_factory=RecordingKube)
    instances: dict[Key, Any] = field(default_factory=dict)
    queued: Queued = field(default_factory=Queued)

    def add(self, body: dict[str, Any]) -> Key:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        self.kube.put(instance_path(*key), body)
        self.instances[key] = instance_view(body)
        return key

    def sync(self) -> None:
        """The watch catches up: the index shows what the client holds."""
        for key in self.instances:
            self.instances[key] = instance_view(self.kube.objects[instance_path(*key)])

    def _instances(self, key: Key) -> Iterable[Any]:
        return [self.instances[key]] if key in self.instances else []

    def _config_maps(self, key: Key) -> Iterable[str | None]:
        stored = self.kube.objects.get(config_map_path(key[0], config_map_name(key[1])))
        return [stored["metadata"]["annotations"][Annotation.CONFIG_HASH]] if stored else []

    def controller(self) -> Controller:
        """A reconciler, and the controller that does with each key what its pass says."""
        indexes = Indexes(
            instances=self._instances,
            children=lambda key: [],
            workloads=lambda key: [],
            config_maps=self._config_maps,
            pods=lambda key: [],
        )
        reconciler = Reconciler(Executor(self.kube), indexes, Records(), clock=lambda: NOW)
        return Controller(reconciler, self.queued)
