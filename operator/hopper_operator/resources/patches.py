"""The plan's changes to the instance itself, said as JSON merge patches (RFC 7386).

Computed from what the index shows and what the plan wants, never hand-written: a merge
patch replaces lists whole, so the owner references and finalizers are written out in full.
The mutating webhook must answer in JSON Patch (RFC 6902): `json_patch` says the same
merge patch that way.
"""

from __future__ import annotations

from collections.abc import Mapping

from hopper_operator.api.meta import FINALIZER
from hopper_operator.api.models import HopperInstanceStatus
from hopper_operator.core.plan import Metadata
from hopper_operator.core.reconcile import stored
from hopper_operator.core.views import InstanceView, OwnerReference

# A JSON object on the wire: read only after checking what each value is.
JsonMapping = Mapping[str, object]


def merge_patch(before: JsonMapping, after: JsonMapping) -> dict[str, object]:
    """The RFC 7386 JSON merge patch that turns `before` into `after`.

    Objects are diffed key by key (a removed key becomes null); anything else, lists
    included, is replaced whole.
    """
    patch: dict[str, object] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif old != value or key not in before:
            patch[key] = value
    patch.update({key: None for key in before if key not in after})
    return patch


def json_patch(target: JsonMapping, patch: JsonMapping, at: str = "") -> list[dict[str, object]]:
    """The RFC 6902 operations that do to `target` what the merge patch `patch` does.

    `at` is where `target` sits in the document, as a JSON Pointer.
    """
    operations: list[dict[str, object]] = []
    for key, value in patch.items():
        path = f"{at}/{key.replace('~', '~0').replace('/', '~1')}"
        old = target.get(key)
        if value is None:
            if key in target:
                operations.append({"op": "remove", "path": path})
        elif isinstance(value, Mapping) and isinstance(old, Mapping):
            operations.extend(json_patch(old, value, path))
        else:  # "add" replaces a member that is there
            added = _without_nulls(value) if isinstance(value, Mapping) else value
            operations.append({"op": "add", "path": path, "value": added})
    return operations


def _without_nulls(value: JsonMapping) -> dict[str, object]:
    """What a merge patch's new object becomes: its nulls remove what is not there."""
    return {
        key: _without_nulls(item) if isinstance(item, Mapping) else item
        for key, item in value.items()
        if item is not None
    }


def status_patch(old: HopperInstanceStatus, new: HopperInstanceStatus) -> dict[str, object]:
    return merge_patch(stored(old), stored(new))


def owner_reference(ref: OwnerReference) -> dict[str, object]:
    body: dict[str, object] = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "name": ref.name,
        "uid": ref.uid,
    }
    if ref.controller is not None:
        body["controller"] = ref.controller
    if ref.block_owner_deletion is not None:
        body["blockOwnerDeletion"] = ref.block_owner_deletion
    return body


def metadata_patch(instance: InstanceView, change: Metadata) -> dict[str, object]:
    patch: dict[str, object] = {}
    if change.labels is not None:
        patch["labels"] = dict(change.labels)
    if change.owner is not None:
        others = [ref for ref in instance.owner_references if not ref.instance_controller]
        ours = OwnerReference.to_instance(change.owner.name, change.owner.uid)
        patch["ownerReferences"] = [owner_reference(ref) for ref in (*others, ours)]
    if change.finalizer is True:
        patch["finalizers"] = [*instance.finalizers, FINALIZER]
    elif change.finalizer is False:
        patch["finalizers"] = [f for f in instance.finalizers if f != FINALIZER]
    return patch
