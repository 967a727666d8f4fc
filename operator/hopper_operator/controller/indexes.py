"""Typed lookups into Kopf's in-memory indexes: what a reconcile reads instead of the API.

A Kopf index is a mapping from its keys to stores of what its function returned; `lookup`
keeps that type through to the reconciler, so nothing from the Kopf boundary inward is
read untyped. Plain dicts of lists serve as indexes in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from hopper_operator.controller.records import Key
from hopper_operator.core.views import InstanceView, WorkloadView

T = TypeVar("T")
IndexKey = TypeVar("IndexKey", bound=Hashable)

# One lookup: the values an index holds under an instance's key (none when it holds none).
Lookup = Callable[[Key], Iterable[T]]


def lookup(index: Mapping[IndexKey, Iterable[T]], by: Callable[[Key], IndexKey]) -> Lookup[T]:
    """`index` read by an instance's key, which `by` turns into the index's own key."""
    return lambda key: index.get(by(key), ())


def first(values: Iterable[T]) -> T | None:
    return next(iter(values), None)


@dataclass(frozen=True)
class Indexes:
    """Lookups into Kopf's indexes, by what they hold."""

    instances: Lookup[InstanceView]  # (namespace, name) -> the instance
    children: Lookup[str]  # (namespace, parent name) -> child names
    workloads: Lookup[WorkloadView]  # (namespace, owner name) -> its Deployment
    config_maps: Lookup[str | None]  # (namespace, owner name) -> the config hash it holds
    pods: Lookup[str | None]  # (namespace, owner name) -> pod names
    every_instance: Callable[[], Iterable[InstanceView]] = tuple

    def instance(self, key: Key) -> InstanceView | None:
        return first(self.instances(key))

    def workload(self, key: Key) -> WorkloadView | None:
        return first(self.workloads(key))

    def config_map_hash(self, key: Key) -> str | None:
        return first(self.config_maps(key))
