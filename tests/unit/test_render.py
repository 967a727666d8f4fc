"""render: the plan's typed intent said as requests; the method and the wire format are its own."""

from __future__ import annotations

from dataclasses import replace

from hopper_operator.api.enums import Phase
from hopper_operator.api.meta import FINALIZER
from hopper_operator.core.config import config_hash
from hopper_operator.core.plan import ConfigMapWrite, Metadata, Owner, Plan, Write
from hopper_operator.core.views import OwnerReference
from hopper_operator.resources.paths import config_map_path, instance_path
from hopper_operator.resources.render import Method, render
from tests.unit.builders import NOW, view

CONFIG = {"k": "v"}


def test_a_config_map_the_index_has_not_seen_is_created_with_the_apply_as_fallback() -> None:
    me = view("g", phase="Running")
    new = ConfigMapWrite(Write.ENSURE, CONFIG, config_hash(CONFIG), exists=False)
    (create,) = render(me, Plan(config_map=new), now=NOW).writes
    assert (create.method, create.path) == (Method.CREATE, config_map_path("ns"))
    assert create.fallback is not None
    assert (create.fallback.method, create.fallback.path) == (
        Method.APPLY,
        config_map_path("ns", "g-config"),
    )
    (apply,) = render(me, Plan(config_map=replace(new, exists=True)), now=NOW).writes
    assert (apply.method, apply.fallback) == (Method.APPLY, None)


def test_metadata_is_a_merge_patch_that_keeps_other_owners_and_finalizers() -> None:
    me = view("web", "PROJECT", parent="acme", finalizers=("other/finalizer",))
    stranger = OwnerReference("v1", "ConfigMap", "x", "uid-x")
    old_parent = OwnerReference.to_instance("acme", "old-uid")
    me = replace(me, owner_references=(old_parent, stranger))
    change = Metadata(labels={"a": "b"}, owner=Owner("acme", "new-uid"), finalizer=True)
    (patch,) = render(me, Plan(metadata=change), now=NOW).writes
    assert (patch.method, patch.path, patch.precondition) == (
        Method.MERGE_PATCH,
        instance_path("ns", "web"),
        "10",
    )
    assert patch.body == {
        "metadata": {
            "labels": {"a": "b"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "uid-x"},
                {
                    "apiVersion": "hopper.dev/v1alpha1",
                    "kind": "HopperInstance",
                    "name": "acme",
                    "uid": "new-uid",
                    "controller": True,
                    "blockOwnerDeletion": True,
                },
            ],
            "finalizers": ["other/finalizer", FINALIZER],
        }
    }


def test_the_status_is_written_only_when_it_changed_and_only_what_changed() -> None:
    me = view("g", phase="Running")
    assert render(me, Plan(status=me.status), now=NOW).writes == ()
    paused = me.status.model_copy(update={"phase": Phase.PAUSED})
    (patch,) = render(me, Plan(status=paused, status_changed=True), now=NOW).writes
    assert patch.path == instance_path("ns", "g") + "/status"
    assert patch.body == {"status": {"phase": "Paused"}}


def test_the_instance_delete_is_only_of_the_object_and_version_decided_on() -> None:
    me = view("e", phase="Terminated")
    (delete,) = render(me, Plan(delete_instance=True), now=NOW).writes
    assert (delete.method, delete.path, delete.precondition) == (
        Method.DELETE,
        instance_path("ns", "e"),
        me.resource_version,
    )
    assert delete.body == {"preconditions": {"uid": me.uid}}
