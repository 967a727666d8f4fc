"""Deletion walks each instance down through its finalizer; the collector takes the subtree."""

from __future__ import annotations

import time

from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    apply_samples,
    instance,
    instances,
    owned_objects,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster.kubelet import StandInKubelet


def test_deleting_a_global_walks_down_and_removes_the_subtree(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=90)
    kubectl("delete", "hopperinstance", "acme", "-n", namespace, "--wait=false")
    # The collector discovers a new CRD's objects within about 30 s, then deletes down.
    wait_for(lambda: not instances(kubectl, namespace), timeout=120, what="the subtree to go")
    for name, seen in phases.phases.items():
        assert seen[-2:] == ["Stopping", "Stopped"], f"{name} was not walked down: {seen}"
    wait_for(
        lambda: owned_objects(kubectl, namespace) == "", timeout=90, what="owned objects collected"
    )


def test_orphaned_children_stop_and_follow_a_recreated_parent(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    root = instance("root")
    apply(kubectl, namespace, root, instance("kid", "PROJECT", parent="root"))
    wait_for_phases(kubectl, namespace, "Running")
    old_uid = instances(kubectl, namespace)["root"]["metadata"]["uid"]
    kubectl("delete", "hopperinstance", "root", "-n", namespace, "--cascade=orphan")
    kid = wait_for(
        lambda: (
            (k := instances(kubectl, namespace).get("kid"))
            and "ownerReferences" not in k["metadata"]
            and k
        ),
        timeout=60,
        what="the orphan to lose its ownerReference",
    )
    assert kid["status"]["phase"] == "Stopped"  # walked down with its parent, never Terminated
    apply(kubectl, namespace, root)
    live = wait_for_phases(kubectl, namespace, "Running")
    (owner,) = live["kid"]["metadata"]["ownerReferences"]
    assert owner["uid"] == live["root"]["metadata"]["uid"] != old_uid


def test_operator_killed_mid_walk_converges_after_restart(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    # No kubelet: the workload never becomes available, so its walk stops at Starting.
    wait_for(
        lambda: (
            instances(kubectl, namespace).get("acme-web-release", {}).get("status", {}).get("phase")
            == "Starting"
        ),
        what="a walk under way",
    )
    operator.kill()
    # While the operator is down, the desired state changes: events it will never see.
    kubectl(
        "patch",
        "hopperinstance",
        "acme",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"state":"Paused"}}',
    )
    time.sleep(1)
    operator.start()
    # A child caught Starting under a parent that pauses never gets to run: it stops
    # and waits, Stopped, for its parent to run again. The rest pause.
    expected = dict.fromkeys(instances(kubectl, namespace), "Paused")
    expected["acme-web-release"] = "Stopped"
    live = wait_for_phases(kubectl, namespace, expected, timeout=90)
    assert all(
        o["status"]["observedGeneration"] == o["metadata"]["generation"] for o in live.values()
    )
    # The `phases` fixture asserts that every step recorded across the kill was legal.
