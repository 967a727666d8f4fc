"""Two replicas behind the Lease, against the real API server: one writer, failover,
handover, split brain. Who wrote what is read from kube-apiserver's audit log."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import PhaseRecorder, set_state, wait_for, wait_for_phases
from tests.integration.ha import (
    LEASE_DURATION,
    Audit,
    Replica,
    all_in,
    control_plane,
    holder,
    leader_of,
    lease,
    micro_time,
    phases_now,
    replicas,
    tree,
)

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.processes import free_ports

__all__ = ["control_plane", "replicas"]  # fixtures, used by name


@pytest.fixture
def recorder(control_plane: ControlPlane, namespace: str) -> Iterator[PhaseRecorder]:
    watching = PhaseRecorder(str(kubectl_path()), control_plane.env(), namespace)
    try:
        yield watching
    finally:
        watching.stop()
    assert not watching.illegal_steps(), watching.illegal_steps()


def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_two_replicas_exactly_one_writes(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    ports = free_ports(4)
    pair = [
        Replica(
            control_plane,
            namespace,
            tmp_path / f"{name}.log",
            name,
            "--metrics-port",
            str(ports[2 * i]),
            "--metrics-auth",
            "none",  # plain HTTP: tests/integration/test_metrics_auth.py covers the default
            "--readiness-port",
            str(ports[2 * i + 1]),
        )
        for i, name in enumerate(("op-a", "op-b"))
    ]
    for replica in pair:
        replica.start()
    try:
        kubectl("apply", "-f", "-", input=tree(namespace, 3, 5))
        leader, standby = leader_of(kubectl, namespace, pair)
        wait_for_phases(kubectl, namespace, "Running", timeout=90)
        set_state(kubectl, namespace, "root", "Paused")
        wait_for_phases(kubectl, namespace, "Paused", timeout=60)

        audit = Audit(control_plane)
        # The standby wrote nothing: no instance, status, ConfigMap or Event; its only
        # requests that are writes at all are campaign attempts on the Lease, all refused.
        standby_writes = audit.by(standby, namespace)
        assert all(w.resource == "leases" and w.code >= 400 for w in standby_writes), [
            w for w in standby_writes if w.resource != "leases" or w.code < 400
        ]
        resources = {w.resource for w in audit.by(leader, namespace)}
        assert {"hopperinstances", "hopperinstances/status", "configmaps", "events"} <= resources

        # Each says which it is, and both are ready (indexes synced): a warm standby.
        for replica, gauge in ((leader, 1.0), (standby, 0.0)):
            index = pair.index(replica)
            _, text = scrape(ports[2 * index], "/metrics")
            assert f"hopper_leader {gauge}" in text, replica.name
            assert scrape(ports[2 * index + 1], "/readyz")[0] == 200, replica.name
    finally:
        for replica in pair:
            replica.stop()
            print(f"--- {replica.name} ---\n{replica.tail()}")


def test_sigkill_of_the_leader_mid_walk_fails_over(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    replicas: list[Replica],
    recorder: PhaseRecorder,
) -> None:
    count = 1 + 12 + 12 * 20  # 253 instances
    kubectl("apply", "-f", "-", input=tree(namespace, 12, 20))
    leader, standby = leader_of(kubectl, namespace, replicas)
    all_in(kubectl, namespace, "Running", count, timeout=120)

    set_state(kubectl, namespace, "root", "Paused")
    wait_for(
        lambda: sum("Paused" in seen for seen in recorder.phases.values()) >= 10,
        interval=0.05,
        what="the walk to Paused to be under way",
    )
    killed = leader.signal(signal.SIGKILL)
    leader.process.wait(timeout=10)  # type: ignore[union-attr]
    paused_at_kill = sum(p == "Paused" for p in phases_now(kubectl, namespace).values())
    assert paused_at_kill < count, "the walk was over before the kill: nothing to fail over"

    all_in(kubectl, namespace, "Paused", count, timeout=120)
    wait_for_phases(kubectl, namespace, "Paused", timeout=30)  # Ready too: nothing stuck
    audit = Audit(control_plane)
    taken = [w for w in audit.by(standby, namespace, since=killed) if w.resource == "leases"]
    first = min(
        w.at for w in audit.by(standby, namespace, since=killed) if w.resource.startswith("hopper")
    )
    failover = first - killed
    print(
        f"\nFAILOVER (SIGKILL of the leader, {count} instances, {paused_at_kill} Paused at the "
        f"kill): Lease taken after {min(w.at for w in taken if w.code < 400) - killed:.1f} s, "
        f"first write by the new leader after {failover:.1f} s"
    )
    assert failover < LEASE_DURATION + 5, failover
    # The dead leader, of course, wrote nothing after its death.
    assert not audit.by(leader, namespace, since=killed + 0.5)


def test_sigterm_hands_over_at_once(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    replicas: list[Replica],
    recorder: PhaseRecorder,
) -> None:
    kubectl("apply", "-f", "-", input=tree(namespace, 2, 3))
    leader, standby = leader_of(kubectl, namespace, replicas)
    wait_for_phases(kubectl, namespace, "Running", timeout=60)
    time.sleep(1)  # the standby has seen the current Lease, as a standby in the field has

    stopped = leader.signal(signal.SIGTERM)
    new = wait_for(
        lambda: (h := holder(kubectl, namespace)).startswith(standby.name + "_") and h,
        timeout=LEASE_DURATION,
        interval=0.1,
        what="the standby to take the Lease",
    )
    handover = micro_time(lease(kubectl, namespace)["acquireTime"]) - stopped
    assert leader.process.wait(timeout=20) == 0  # type: ignore[union-attr]
    set_state(kubectl, namespace, "root", "Paused")
    wait_for_phases(kubectl, namespace, "Paused", timeout=60)
    first = min(w.at for w in Audit(control_plane).by(standby, namespace, since=stopped))
    print(
        f"\nHANDOVER (SIGTERM of the leader): Lease released and taken by {new} after "
        f"{handover:.2f} s (its first write {first - stopped:.2f} s after the signal)"
    )
    assert handover < 5, handover


def test_split_brain_a_frozen_leader_writes_nothing_until_it_leads_again(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    replicas: list[Replica],
    recorder: PhaseRecorder,
) -> None:
    count = 1 + 4 + 4 * 10
    kubectl("apply", "-f", "-", input=tree(namespace, 4, 10))
    old, new = leader_of(kubectl, namespace, replicas)
    all_in(kubectl, namespace, "Running", count, timeout=90)

    # Freeze the leader in the middle of a walk, with work queued and in flight.
    set_state(kubectl, namespace, "root", "Paused")
    frozen = old.signal(signal.SIGSTOP)
    wait_for(
        lambda: holder(kubectl, namespace).startswith(new.name + "_"),
        timeout=LEASE_DURATION + 10,
        interval=0.2,
        what="the standby to take over from the frozen leader",
    )
    all_in(kubectl, namespace, "Paused", count, timeout=60)
    # Longer than the lease, and a change for the old leader's stale view to act upon.
    time.sleep(max(0.0, frozen + LEASE_DURATION + 2 - time.time()))
    set_state(kubectl, namespace, "root", "Running")
    resumed = old.signal(signal.SIGCONT)
    all_in(kubectl, namespace, "Running", count, timeout=60)
    time.sleep(5)  # the old leader's loop runs again: its stale queue, its renew loop

    audit = Audit(control_plane)
    since_resume = audit.by(old, namespace, since=resumed)
    # A request past the write gate when SIGSTOP landed goes out on SIGCONT: no Lease can
    # fence it (client-go's election says as much). Every status and metadata write carries
    # the resourceVersion it was decided from, so such a straggler is refused with 409;
    # what counts is that nothing the old leader sent after waking took effect.
    took_effect = [w for w in since_resume if w.code < 400]
    assert not took_effect, f"the old leader wrote after waking: {took_effect[:5]}"
    assert all(w.code == 409 for w in since_resume), since_resume
    assert holder(kubectl, namespace).startswith(new.name + "_")
    print(
        f"\nSPLIT BRAIN: the old leader, frozen {resumed - frozen:.0f} s, wrote nothing in the "
        f"{time.time() - resumed:.0f} s after it woke ({len(since_resume)} request(s) in flight "
        f"at the freeze refused with 409); {new.name} leads"
    )

    # It writes again once it has re-acquired the Lease (the other leaves).
    new.signal(signal.SIGTERM)
    wait_for(
        lambda: holder(kubectl, namespace).startswith(old.name + "_"),
        timeout=LEASE_DURATION,
        interval=0.2,
        what="the old leader to re-acquire the Lease",
    )
    reacquired = micro_time(lease(kubectl, namespace)["acquireTime"])
    set_state(kubectl, namespace, "root", "Paused")
    all_in(kubectl, namespace, "Paused", count, timeout=60)
    assert audit.by(old, namespace, since=reacquired)
