"""Between a HopperInstance object and the Instance API's bodies: pure functions, no I/O.

Where the original's fields live on the object (docs/instance-api.md says the same):
id = metadata.name; name = spec.displayName; status = status.phase in lower case;
runtime_metadata and created_by = the annotations hopper.dev/runtime-metadata (JSON) and
hopper.dev/created-by; created_at = metadata.creationTimestamp; updated_at = the latest
write recorded in metadata.managedFields.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from hopper_operator.api import wire
from hopper_operator.api.enums import ConditionType, DesiredState, Phase, Scope
from hopper_operator.api.meta import API_VERSION, KIND, Annotation, parse_time
from hopper_operator.api.wire import InstanceBody, Json, MetaBody, SpecBody
from hopper_operator.rest.schemas import (
    Instance,
    InstanceCreate,
    InstanceList,
    InstanceStatus,
    InstanceUpdate,
    Node,
    SortBy,
    SortOrder,
    Status,
)

# An instance as the store and its cache hold it: the Kube client's decoded JSON.
Object = Mapping[str, Any]


def body(obj: Object) -> InstanceBody:
    """The instance as the API server sent it, typed for `api.wire` and `core.verbs`."""
    return cast(InstanceBody, obj)


def phase_of(obj: Object) -> Phase:
    return wire.phase_of(body(obj))


def parent_of(obj: Object) -> str | None:
    return wire.parent_of(body(obj))


def _annotations(obj: Object) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _runtime_metadata(obj: Object) -> Json:
    try:
        value = json.loads(_annotations(obj).get(Annotation.RUNTIME_METADATA, "{}"))
    except ValueError:
        return {}  # edited by hand into something else: shown as none, never a 500
    return value if isinstance(value, dict) else {}


def _updated_at(meta: MetaBody) -> datetime | None:
    times = [parse_time(entry.get("time")) for entry in meta.get("managedFields") or ()]
    known = [moment for moment in times if moment is not None]
    return max(known, default=parse_time(meta.get("creationTimestamp")))


def to_instance(obj: Object) -> Instance:
    instance = body(obj)
    meta, spec = instance.get("metadata") or {}, instance.get("spec") or {}
    status = instance.get("status") or {}
    return Instance(
        id=meta.get("name", ""),
        name=spec.get("displayName") or meta.get("name", ""),
        scope=Scope(spec.get("scope", Scope.GLOBAL)),
        status=Status.of(phase_of(obj)),
        instance_type=str(spec.get("instanceType", "Persistent")).lower(),
        parent_id=parent_of(obj),
        config=spec.get("config") or {},
        runtime_metadata=_runtime_metadata(obj),
        description=spec.get("description"),
        created_at=parse_time(meta.get("creationTimestamp")),
        updated_at=_updated_at(meta),
        created_by=_annotations(obj).get(Annotation.CREATED_BY),
        started_at=parse_time(status.get("startedAt")),
        stopped_at=parse_time(status.get("stoppedAt")),
    )


def new_id(scope: Scope) -> str:
    return f"{scope.value.lower()}-{secrets.token_hex(4)}"


def to_manifest(create: InstanceCreate, *, name: str, caller: str) -> InstanceBody:
    """The object a create asks for: at rest in Created (spec.state Stopped, which a
    never-started instance already satisfies), as the original's explicit start wants."""
    spec: SpecBody = {
        "scope": create.scope.value,
        "state": DesiredState.STOPPED.value,
        "instanceType": create.instance_type.value,
        "displayName": create.name,
        "config": create.config,
    }
    if create.parent_id:
        spec["parentRef"] = {"name": create.parent_id}
    if create.description is not None:
        spec["description"] = create.description
    annotations = {Annotation.CREATED_BY.value: create.created_by or caller}
    if create.runtime_metadata:
        annotations[Annotation.RUNTIME_METADATA.value] = json.dumps(create.runtime_metadata)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


def update_patch(update: InstanceUpdate, old: Object) -> Json:
    """The merge patch of an update's fields other than `status` (a lifecycle request)."""
    spec: Json = {}
    if update.name is not None:
        spec["displayName"] = update.name
    if update.description is not None:
        spec["description"] = update.description
    if update.config is not None:
        spec["config"] = replaced_config(old, update.config)
    patch: Json = {"spec": spec} if spec else {}
    if update.runtime_metadata is not None:
        value = json.dumps(update.runtime_metadata)
        patch["metadata"] = {"annotations": {Annotation.RUNTIME_METADATA.value: value}}
    return patch


def replaced_config(old: Object, new: Json) -> Json:
    """`new` as a merge patch over the stored config: a merge patch merges maps, so every
    key the new config drops, at any depth, is set to null (PUT replaces the config)."""
    return _replaced((body(old).get("spec") or {}).get("config") or {}, new)


def _replaced(old: Mapping[str, object], new: Mapping[str, object]) -> Json:
    dropped = dict.fromkeys(key for key in old if key not in new)
    return {**dropped, **{key: _replacing(old.get(key), value) for key, value in new.items()}}


def _replacing(old: object, new: object) -> object:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return _replaced(old, new)
    return new


def status_body(obj: Object) -> InstanceStatus:
    ready = wire.condition(body(obj), ConditionType.READY)
    return InstanceStatus(
        id=(obj.get("metadata") or {}).get("name", ""),
        status=Status.of(phase_of(obj)),
        ready=ready.get("status") == "True",
        reason=ready.get("reason"),
        message=ready.get("message"),
    )


@dataclass(frozen=True)
class ListQuery:
    scopes: frozenset[Scope] = frozenset()
    statuses: frozenset[Status] = frozenset()
    parent_id: str | None = None
    root_only: bool = False
    sort_by: SortBy = SortBy.CREATED_AT
    sort_order: SortOrder = SortOrder.DESC
    skip: int = 0
    limit: int = 20


@dataclass(frozen=True, slots=True)
class Row:
    """What a list filters and sorts by, read straight from the object: only the page's
    objects are turned into Instance bodies (a list of thousands stays cheap)."""

    obj: Object
    id: str
    name: str
    scope: str
    status: str
    parent_id: str | None
    created_at: str  # RFC 3339 in UTC ("...Z"): sorts as text in time order

    @classmethod
    def of(cls, obj: Object) -> Row:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        name = meta.get("name", "")
        return cls(
            obj=obj,
            id=name,
            name=spec.get("displayName") or name,
            scope=str(spec.get("scope", "")),
            status=Status.of(phase_of(obj)).value,
            parent_id=parent_of(obj),
            created_at=str(meta.get("creationTimestamp") or ""),
        )


def matches(row: Row, query: ListQuery) -> bool:
    return (
        (not query.scopes or row.scope in query.scopes)
        and (not query.statuses or row.status in query.statuses)
        and (query.parent_id is None or row.parent_id == query.parent_id)
        and (not query.root_only or row.parent_id is None)
    )


def page(objects: Iterable[Object], query: ListQuery) -> InstanceList:
    field = query.sort_by.value
    found = sorted(
        (row for row in map(Row.of, objects) if matches(row, query)),
        # Ties broken by id, so that pages never overlap or skip.
        key=lambda row: (getattr(row, field), row.id),
        reverse=query.sort_order is SortOrder.DESC,
    )
    rows = found[query.skip : query.skip + query.limit]
    return InstanceList(
        items=[to_instance(row.obj) for row in rows],
        total=len(found),
        skip=query.skip,
        limit=query.limit,
        has_more=query.skip + len(rows) < len(found),
    )


def children_of(objects: Iterable[Object], name: str) -> list[Object]:
    return [obj for obj in objects if parent_of(obj) == name]


def hierarchy(root: Object, objects: Sequence[Object]) -> tuple[Node, int]:
    """The subtree under `root` (depth 0) and how many instances it holds.

    Ranks strictly decrease down the tree, so it cannot loop; `seen` guards anyway
    against objects edited by hand into a cycle.
    """
    by_parent: dict[str, list[Object]] = {}
    for obj in objects:
        parent = parent_of(obj)
        if parent is not None:
            by_parent.setdefault(parent, []).append(obj)
    seen: set[str] = set()

    def node(obj: Object, depth: int) -> Node:
        name = obj["metadata"]["name"]
        seen.add(name)
        below = sorted(by_parent.get(name, ()), key=lambda o: o["metadata"]["name"])
        kids = [node(kid, depth + 1) for kid in below if kid["metadata"]["name"] not in seen]
        return Node(instance=to_instance(obj), children=kids, depth=depth)

    tree = node(root, 0)
    return tree, len(seen)
