"""The "ideal operator": a plain client making only the writes the design requires.

Per instance, after the user's create: one metadata PATCH (labels, ownerReference to the
parent, finalizer), one ConfigMap create (the materialised config, owned by the instance)
and one status PATCH straight to Running. No Events, no intermediate phases, no operator
CPU. It bounds what any operator following docs/design.md can reach on this machine; compare
its ratio to the floor with the 2x target.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from functools import partial
from typing import Any

from hopper_operator.api.meta import API_VERSION, FINALIZER, KIND, Annotation, Label
from hopperbench.api import Api, instances_path
from hopperbench.procstat import cpu_windows, snapshot
from hopperbench.scenarios import (
    GLOBAL,
    Bench,
    bounded,
    create_namespace,
    delete_namespace,
    floor_status,
    names,
    tree,
)
from hopperbench.watch import Tracker, settled_in

IDEAL_AGENTS = ("hopper-bench-ideal/",)


async def run_ideal(bench: Bench, api: Api, n: int, namespace: str) -> dict[str, Any]:
    items = tree(n)
    await create_namespace(bench.control, namespace)
    tracker = Tracker(bench.control, namespace)
    await tracker.start()
    try:
        offsets, cpu = [bench.audit.offset()], [snapshot(bench.processes)]
        uids: dict[str, asyncio.Future[str]] = {
            name: asyncio.get_running_loop().create_future() for name in names(items)
        }
        start = time.monotonic()
        jobs = (partial(_one, api, namespace, item, uids) for item in items)
        await bounded(bench.concurrency, jobs)
        what = "ideal: all Running"
        done = await tracker.wait(names(items), settled_in("Running"), bench.timeout(n), what)
        offsets.append(bench.audit.offset())
        cpu.append(snapshot(bench.processes))
        return {
            "convergence_s": done - start,
            "requests": {"create": bench.audit.count(offsets[0], offsets[1], IDEAL_AGENTS)},
            "cpu_s": cpu_windows(cpu, ("create",)),
        }
    finally:
        await tracker.stop()
        await delete_namespace(bench, namespace, strip_finalizers=True)


async def _one(
    api: Api, namespace: str, item: dict[str, Any], uids: dict[str, asyncio.Future[str]]
) -> None:
    created = await api.request("POST", instances_path(namespace), item)
    meta, spec = created["metadata"], created["spec"]
    name, uid = meta["name"], meta["uid"]
    uids[name].set_result(uid)
    parent = (spec.get("parentRef") or {}).get("name")
    labels = {Label.SCOPE: spec["scope"], Label.ROOT: GLOBAL}
    patch: dict[str, Any] = {"metadata": {"labels": labels, "finalizers": [FINALIZER]}}
    if parent:
        labels[Label.PARENT] = parent
        # Parents are created first, but concurrently: wait for the parent's uid.
        parent_uid = await asyncio.wait_for(asyncio.shield(uids[parent]), 120)
        patch["metadata"]["ownerReferences"] = [_owner(parent, parent_uid)]
    await api.merge_patch(instances_path(namespace, name), patch)
    body = _config_map(name, uid, spec.get("config") or {})
    await api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    path = instances_path(namespace, name) + "/status"
    await api.merge_patch(path, floor_status("Running", int(meta["generation"])))


def _owner(name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _config_map(instance: str, uid: str, config: dict[str, Any]) -> dict[str, Any]:
    """Like the operator's: labelled, owned by the instance, the config as JSON."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{instance}-config",
            "labels": {Label.INSTANCE: instance},
            "annotations": {Annotation.CONFIG_HASH: hashlib.sha256(text.encode()).hexdigest()},
            "ownerReferences": [_owner(instance, uid)],
        },
        "data": {"config.json": text},
    }
