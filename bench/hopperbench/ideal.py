"""Plain clients that make an operator's writes with none of its work: two bounds.

The *ideal*: per instance, after the user's create, one metadata PATCH (labels,
ownerReference to the parent, finalizer), one ConfigMap create (the materialised config,
owned by the instance) and one status PATCH straight to Running. No Events, no
intermediate phases, no operator CPU: what any operator materialising config and linking
the tree needs at the least.

The *design replay*: the writes docs/design.md requires of this operator, in its order,
with no watch, no decision and no waiting on echoes: the metadata PATCH (with the
admission webhooks, none: the create carries the metadata, as the mutating webhook makes
it, after the parent's create as the webhook needs the parent indexed), the ConfigMap,
a status PATCH per step (Starting, Running) and the pass's one Event; for a fan-out, the
tree level by level (a child follows its parent), one status PATCH and one Event each.
What the operator spends beyond it is its own overhead; what the replay spends beyond the
floor is the design's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from hopper_operator.api.meta import API_VERSION, FINALIZER, KIND, Annotation, Label
from hopper_operator.resources.events import event
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


async def run_ideal(
    bench: Bench, api: Api, n: int, namespace: str, *, design: bool = False
) -> dict[str, Any]:
    """The ideal (or, with `design`, the design replay) to Running, and its fan-outs."""
    items = tree(n)
    await create_namespace(bench.control, namespace)
    tracker = Tracker(bench.control, namespace)
    await tracker.start()
    try:
        offsets, cpu = [bench.audit.offset()], [snapshot(bench.processes)]
        loop = asyncio.get_running_loop()
        created: dict[str, asyncio.Future[dict[str, Any]]] = {
            name: loop.create_future() for name in names(items)
        }
        start = time.monotonic()
        stamped = design and bench.webhooks
        jobs = (
            partial(_one, api, namespace, item, created, design, stamped=stamped) for item in items
        )
        await bounded(bench.concurrency, jobs)
        what = f"{'design replay' if design else 'ideal'}: all Running"
        done = await tracker.wait(names(items), settled_in("Running"), bench.timeout(n), what)
        result: dict[str, Any] = {"convergence_s": done - start}
        offsets.append(bench.audit.offset())
        cpu.append(snapshot(bench.processes))
        labels = ["create"]
        if design:
            bodies = {name: future.result() for name, future in created.items()}
            for label, state in (("pause", "Paused"), ("resume", "Running")):
                start = time.monotonic()
                await _cascade(bench, api, namespace, items, bodies, state=state)
                what = f"design replay: all {state}"
                done = await tracker.wait(names(items), settled_in(state), bench.timeout(n), what)
                result[f"{label}_s"] = done - start
                offsets.append(bench.audit.offset())
                cpu.append(snapshot(bench.processes))
                labels.append(label)
        result["requests"] = {
            label: bench.audit.count(offsets[i], offsets[i + 1], IDEAL_AGENTS)
            for i, label in enumerate(labels)
        }
        result["cpu_s"] = cpu_windows(cpu, labels)
        return result
    finally:
        await tracker.stop()
        await delete_namespace(bench, namespace, strip_finalizers=True)


async def _one(
    api: Api,
    namespace: str,
    item: dict[str, Any],
    created: dict[str, asyncio.Future[dict[str, Any]]],
    design: bool,
    *,
    stamped: bool,
) -> None:
    spec = item["spec"]
    parent = (spec.get("parentRef") or {}).get("name")
    labels = {Label.SCOPE: spec["scope"], Label.ROOT: GLOBAL}
    metadata: dict[str, Any] = {"labels": labels, "finalizers": [FINALIZER]}
    if parent:
        labels[Label.PARENT] = parent
        # Parents are created first, but concurrently: wait for the parent's uid.
        parent_body = await asyncio.wait_for(asyncio.shield(created[parent]), 120)
        metadata["ownerReferences"] = [_owner(parent, parent_body["metadata"]["uid"])]
    if stamped:  # the webhooks' design: the create stores the metadata, no PATCH follows
        item = {**item, "metadata": {**item["metadata"], **metadata}}
    body = await api.request("POST", instances_path(namespace), item)
    meta = body["metadata"]
    name, uid = meta["name"], meta["uid"]
    created[name].set_result(body)
    if not stamped:
        await api.merge_patch(instances_path(namespace, name), {"metadata": metadata})
    config_map = _config_map(name, uid, spec.get("config") or {})
    await api.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", config_map)
    path = instances_path(namespace, name) + "/status"
    generation = int(meta["generation"])
    if not design:
        await api.merge_patch(path, floor_status("Running", generation))
        return
    await api.merge_patch(path, _status("Starting", generation, config_map))
    await api.merge_patch(path, _status("Running", generation, config_map))
    await _event(api, namespace, meta, "Created -> Starting -> Running")


async def _cascade(
    bench: Bench,
    api: Api,
    namespace: str,
    items: list[dict[str, Any]],
    bodies: dict[str, dict[str, Any]],
    *,
    state: str,
) -> None:
    """The user's change of the GLOBAL's spec.state, then each level of the tree in turn."""
    patched = await api.merge_patch(instances_path(namespace, GLOBAL), {"spec": {"state": state}})
    bodies[GLOBAL] = patched
    levels: dict[int, list[str]] = {}
    for item in items:
        levels.setdefault(_depth(item), []).append(item["metadata"]["name"])
    for depth in sorted(levels):
        await bounded(
            bench.concurrency,
            (partial(_step, api, namespace, bodies[name], state) for name in levels[depth]),
        )


async def _step(api: Api, namespace: str, body: dict[str, Any], state: str) -> None:
    meta = body["metadata"]
    path = instances_path(namespace, meta["name"]) + "/status"
    config_map = _config_map(meta["name"], meta["uid"], body["spec"].get("config") or {})
    await api.merge_patch(path, _status(state, int(meta["generation"]), config_map))
    before = "Running" if state == "Paused" else "Paused"
    await _event(api, namespace, meta, f"{before} -> {state}")


def _depth(item: dict[str, Any]) -> int:
    return {"GLOBAL": 0, "PROJECT": 1}.get(item["spec"]["scope"], 2)


def _status(phase: str, generation: int, config_map: dict[str, Any]) -> dict[str, Any]:
    """A status close to the operator's in shape and size (phase, Ready and ParentReady,
    root, config), so that the API server validates and stores about as much."""
    status = floor_status(phase, generation)
    ready = status["status"]["conditions"][0]
    parent_ready = {**ready, "type": "ParentReady", "reason": "ParentRunning", "message": ""}
    meta = config_map["metadata"]
    status["status"].update(
        {
            "conditions": [ready, parent_ready],
            "root": GLOBAL,
            "configMapName": meta["name"],
            "effectiveConfigHash": meta["annotations"][Annotation.CONFIG_HASH],
        }
    )
    return status


async def _event(api: Api, namespace: str, meta: dict[str, Any], steps: str) -> None:
    body = event(
        namespace=namespace,
        name=meta["name"],
        uid=meta["uid"],
        type="Normal",
        reason="Reconciled",
        message=f"{steps} (towards the desired state)",
        now=datetime.now(UTC),
    )
    await api.request("POST", f"/api/v1/namespaces/{namespace}/events", body)


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
