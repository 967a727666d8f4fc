"""The samples tree converges; children wait for parents; a wrong parent scope stalls."""

from __future__ import annotations

import json

from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    apply_samples,
    condition,
    get_json,
    instance,
    instances,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster.kubelet import StandInKubelet

PARENTS = {
    "acme": None,
    "acme-web": "acme",
    "acme-data": "acme",
    "acme-web-release": "acme-web",
    "acme-web-triage": "acme-web",
    "acme-data-etl": "acme-data",
}


def test_samples_converge(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    live = wait_for_phases(kubectl, namespace, "Running", timeout=90)
    kubectl(
        "wait",
        "--for=condition=Ready",
        "hopperinstances",
        "--all",
        "-n",
        namespace,
        "--timeout=30s",
    )
    for name, parent in PARENTS.items():
        meta = live[name]["metadata"]
        assert meta["labels"]["hopper.dev/root"] == "acme"
        assert meta["labels"]["hopper.dev/scope"] == live[name]["spec"]["scope"]
        assert live[name]["status"]["observedGeneration"] == meta["generation"]
        if parent is None:
            assert "ownerReferences" not in meta and live[name]["status"]["depth"] == 0
            continue
        assert meta["labels"]["hopper.dev/parent"] == parent
        (owner,) = meta["ownerReferences"]
        assert (owner["name"], owner["uid"], owner["controller"]) == (
            parent,
            live[parent]["metadata"]["uid"],
            True,
        )
    children = kubectl(
        "get", "hopper", "-n", namespace, "-l", "hopper.dev/parent=acme", "-o", "name"
    ).stdout.split()
    assert sorted(children) == [
        "hopperinstance.hopper.dev/acme-data",
        "hopperinstance.hopper.dev/acme-web",
    ]
    # Effective config: the child wins key by key, objects merge down the tree.
    data = get_json(kubectl, "configmap", "acme-web-release-config", "-n", namespace)["data"]
    assert json.loads(data["config.json"]) == {
        "logLevel": "info",
        "router": {"strategy": "least-loaded", "timeoutSeconds": 60},
    }
    # The parent counts its children by phase (refreshed in batches).
    wait_for(
        lambda: (
            instances(kubectl, namespace)["acme-web"]["status"].get("children")
            == {"total": 2, "byPhase": {"Running": 2}}
        ),
        what="children counts",
    )
    events = kubectl(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=acme-web-triage"
    ).stdout
    assert "Created -> Starting" in events and "Starting -> Running" in events


def test_child_applied_before_parent_waits_then_converges(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    apply(kubectl, namespace, instance("early", "PROJECT", parent="late"))

    def waiting() -> bool:
        obj = instances(kubectl, namespace).get("early", {})
        parent_ready = condition(obj, "ParentReady")
        return parent_ready.get("reason") == "ParentNotFound" and parent_ready["status"] == "False"

    wait_for(waiting, what="ParentNotFound")
    early = instances(kubectl, namespace)["early"]
    assert early["status"]["phase"] == "Created"
    assert condition(early, "Ready")["status"] == "False"
    assert condition(early, "Reconciling")["status"] == "True"
    apply(kubectl, namespace, instance("late"))
    wait_for_phases(kubectl, namespace, {"early": "Running", "late": "Running"})


def test_parent_of_wrong_scope_stalls(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    apply(
        kubectl,
        namespace,
        instance("root"),
        instance("orch", "ORCHESTRATION", parent="root"),
        instance("proj", "PROJECT", parent="orch"),
    )
    wait_for_phases(kubectl, namespace, {"root": "Running", "orch": "Running"})

    def stalled() -> dict | None:
        proj = instances(kubectl, namespace)["proj"]
        return proj if condition(proj, "Stalled").get("status") == "True" else None

    proj = wait_for(stalled, what="Stalled")
    assert condition(proj, "Stalled")["reason"] == "ParentScopeInvalid"
    assert "needs a parent of a smaller rank" in condition(proj, "Stalled")["message"]
    assert condition(proj, "ParentReady")["reason"] == "ParentScopeInvalid"
    assert condition(proj, "Ready")["status"] == "False"
    assert proj["status"]["phase"] == "Created"
    events = kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=proj,type=Warning",
    ).stdout
    assert "ParentScopeInvalid" in events
    # Stalled is not retried in a loop: the object stays untouched while nothing changes.
    version = proj["metadata"]["resourceVersion"]
    wait_for(lambda: True, timeout=1)
    import time

    time.sleep(3)
    assert instances(kubectl, namespace)["proj"]["metadata"]["resourceVersion"] == version
