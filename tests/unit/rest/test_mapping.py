"""Between objects and REST bodies, the list's filter, sort and pages, the hierarchy, and
the API server's refused fields: pure functions, no cluster."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hopper_operator.api.enums import InstanceType, Scope
from hopper_operator.api.models import HopperInstanceSpec
from hopper_operator.kube.client import KubeError
from hopper_operator.rest import mapping
from hopper_operator.rest.errors import body_field, refused_fields
from hopper_operator.rest.schemas import (
    InstanceCreate,
    InstanceUpdate,
    SortBy,
    SortOrder,
    Status,
)


def obj(
    name: str,
    scope: str = "GLOBAL",
    parent: str | None = None,
    phase: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
    **spec: Any,
) -> dict[str, Any]:
    full: dict[str, Any] = {"scope": scope, **spec}
    if parent:
        full["parentRef"] = {"name": parent}
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": full,
        "status": {"phase": phase} if phase else {},
    }


def test_create_round_trips_through_the_object() -> None:
    body = InstanceCreate.model_validate(
        {
            "name": "Display ✓",
            "scope": "project",
            "instance_type": "TEMPORARY",
            "parent_id": "root",
            "config": {"a": 1},
            "runtime_metadata": {"pid": 1},
            "description": "d",
        }
    )
    manifest = mapping.to_manifest(body, name="p1", caller="system:serviceaccount:ns:me")
    # What the CRD's model accepts (the spec is the operator's own model).
    spec = HopperInstanceSpec.model_validate(manifest["spec"])
    assert (spec.scope, spec.instance_type) == (Scope.PROJECT, InstanceType.TEMPORARY)
    assert manifest["spec"]["state"] == "Stopped"
    manifest["metadata"]["creationTimestamp"] = "2026-01-02T03:04:05Z"
    back = mapping.to_instance(manifest)
    assert back.id == "p1" and back.name == "Display ✓" and back.scope == Scope.PROJECT
    assert back.status == Status.CREATED and back.instance_type == "temporary"
    assert (back.parent_id, back.config, back.runtime_metadata) == ("root", {"a": 1}, {"pid": 1})
    assert back.created_by == "system:serviceaccount:ns:me"  # the caller, when not given
    assert back.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert back.updated_at == back.created_at


def test_the_instance_reads_what_the_operator_wrote() -> None:
    o = obj("x", phase="Running", displayName=None)
    o["status"].update(startedAt="2026-01-01T00:01:00Z", stoppedAt=None)
    o["metadata"]["managedFields"] = [{"time": "2026-01-01T00:05:00Z"}, {"time": None}]
    o["metadata"]["annotations"] = {"hopper.dev/runtime-metadata": "not json"}
    instance = mapping.to_instance(o)
    assert instance.name == "x"  # no display name: the id
    assert instance.status == Status.RUNNING and instance.runtime_metadata == {}
    assert instance.updated_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert instance.started_at == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)


def test_new_ids_are_scope_and_eight_hex() -> None:
    made = {mapping.new_id(Scope.ORCHESTRATION) for _ in range(50)}
    assert len(made) == 50
    assert all(n.startswith("orchestration-") and len(n) == 22 for n in made)


def test_update_replaces_the_config_at_every_depth() -> None:
    old = obj("x", config={"a": {"x": 1, "y": 2}, "b": 1})
    body = InstanceUpdate(config={"a": {"x": 3}}, name="n", runtime_metadata={"k": "v"})
    patch = mapping.update_patch(body, old)
    assert patch["spec"] == {"displayName": "n", "config": {"a": {"x": 3, "y": None}, "b": None}}
    assert json.loads(patch["metadata"]["annotations"]["hopper.dev/runtime-metadata"]) == {"k": "v"}
    assert mapping.update_patch(InstanceUpdate(status=Status.RUNNING), old) == {}


ROWS = [
    obj("g1", created="2026-01-01T00:00:03Z", phase="Running"),
    obj("g2", created="2026-01-01T00:00:01Z"),
    obj("p1", "PROJECT", "g1", created="2026-01-01T00:00:02Z", phase="Paused"),
    obj("p2", "PROJECT", "g1", created="2026-01-01T00:00:02Z"),
    obj("o1", "ORCHESTRATION", "p1", created="2026-01-01T00:00:04Z"),
]


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        (mapping.ListQuery(), ["o1", "g1", "p2", "p1", "g2"]),  # newest first; ties by id
        (mapping.ListQuery(sort_order=SortOrder.ASC), ["g2", "p1", "p2", "g1", "o1"]),
        (mapping.ListQuery(scopes=frozenset({Scope.PROJECT})), ["p2", "p1"]),
        (mapping.ListQuery(statuses=frozenset({Status.CREATED})), ["o1", "p2", "g2"]),
        (mapping.ListQuery(parent_id="g1", sort_by=SortBy.ID), ["p2", "p1"]),
        (
            mapping.ListQuery(root_only=True, sort_by=SortBy.NAME, sort_order=SortOrder.ASC),
            ["g1", "g2"],
        ),
        (
            mapping.ListQuery(sort_by=SortBy.STATUS, sort_order=SortOrder.ASC),
            ["g2", "o1", "p2", "p1", "g1"],
        ),
        (
            mapping.ListQuery(sort_by=SortBy.SCOPE, sort_order=SortOrder.ASC),
            ["g1", "g2", "o1", "p1", "p2"],
        ),
    ],
)
def test_list_filters_and_sorts(query: mapping.ListQuery, ids: list[str]) -> None:
    assert [i.id for i in mapping.page(ROWS, query).items] == ids


@pytest.mark.parametrize(("skip", "limit"), list(itertools.product(range(7), range(1, 7))))
def test_pages_cover_every_match_once(skip: int, limit: int) -> None:
    listed = mapping.page(ROWS, mapping.ListQuery(skip=skip, limit=limit))
    everything = [i.id for i in mapping.page(ROWS, mapping.ListQuery()).items]
    assert [i.id for i in listed.items] == everything[skip : skip + limit]
    assert listed.total == 5 and listed.has_more == (skip + limit < 5)


def test_hierarchy_counts_and_depths_and_survives_a_hand_made_cycle() -> None:
    tree, total = mapping.hierarchy(ROWS[0], ROWS)
    assert total == 4
    assert [(n.instance.id, n.depth) for n in tree.children] == [("p1", 1), ("p2", 1)]
    assert [(n.instance.id, n.depth) for n in tree.children[0].children] == [("o1", 2)]
    loop = [obj("a", parent="b"), obj("b", parent="a")]
    assert mapping.hierarchy(loop[0], loop)[1] == 2


def test_status_body_from_the_ready_condition() -> None:
    o = obj("x", phase="Stopped")
    o["status"]["conditions"] = [
        {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok"}
    ]
    body = mapping.status_body(o)
    assert (body.status, body.ready, body.reason, body.message) == (
        Status.STOPPED, True, "Reconciled", "ok",
    )  # fmt: skip
    assert mapping.status_body(obj("y")).ready is False


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("spec.displayName", "body -> name"),
        ("spec.parentRef", "body -> parent_id"),
        ("spec.parentRef.name", "body -> parent_id"),
        ("spec.instanceType", "body -> instance_type"),
        ("spec.config", "body -> config"),
        ("spec.config.a.b", "body -> config -> a -> b"),
        ("spec.description", "body -> description"),
        ("spec.scope", "body -> scope"),
        ("spec", "body"),
        ("metadata.name", "body -> id"),
        ("metadata.annotations", "body -> runtime_metadata"),
        ("", "body"),
    ],
)
def test_refused_fields_are_named_as_the_body_names_them(path: str, field: str) -> None:
    assert body_field(path) == field


def test_refused_fields_from_the_status_causes() -> None:
    status = {
        "reason": "Invalid",
        "details": {
            "causes": [
                {"reason": "FieldValueTooLong", "message": "too long", "field": "spec.description"}
            ]
        },
    }
    (error,) = refused_fields(KubeError(422, "invalid", details=status))
    assert (error.field, error.message, error.type) == (
        "body -> description", "too long", "FieldValueTooLong",
    )  # fmt: skip
    (bare,) = refused_fields(KubeError(422, "no causes", details={}))
    assert (bare.field, bare.message) == ("body", "no causes")
