"""What Flux (kstatus) and Argo CD (the Lua health check) see of live HopperInstances.

kstatus is the real library (sigs.k8s.io/cli-utils' status.Compute, in tools/kstatus);
the Argo CD check is manifests/gitops/argocd-health.lua under Argo CD's restricted Lua.
Every snapshot asks both about the same objects, and they must always agree.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import (
    ROOT,
    Operator,
    apply,
    apply_samples,
    instance,
    set_state,
    wait_for,
    wait_for_phases,
)
from tests.unit.test_argocd_health import argocd_health

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.kubelet import StandInKubelet

SAMPLES = {
    "acme",
    "acme-web",
    "acme-data",
    "acme-web-release",
    "acme-web-triage",
    "acme-data-etl",
}
# kstatus verdict -> the Argo CD health statuses that mean the same.
AGREES = {
    "Current": {"Healthy", "Suspended"},
    "InProgress": {"Progressing"},
    "Failed": {"Degraded"},
    "Terminating": {"Progressing"},
}
# The one place they part on purpose: an object the operator has not written a status for
# yet. kstatus calls it Current ("Resource is current": it cannot tell a resource with no
# status conventions from one not yet reconciled); the Argo CD check waits for status.
UNPUBLISHED = ("Current", "Progressing")


@pytest.fixture(scope="session")
def kstatus_binary() -> Path:
    started = time.monotonic()
    try:
        built = subprocess.run(
            ["bash", str(ROOT / "tools" / "kstatus" / "build.sh")],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"tools/kstatus/build.sh did not run: {error}", pytrace=False)
    lines = built.stdout.strip().splitlines()
    binary = Path(lines[-1]) if lines else None
    if built.returncode != 0 or binary is None or not binary.is_file():
        # Failing, never skipping: a skipped GitOps check looks green while checking nothing.
        pytest.fail(
            f"tools/kstatus/build.sh failed ({built.returncode}):\n{built.stderr}", pytrace=False
        )
    print(f"kstatus helper ready in {time.monotonic() - started:.1f} s: {binary}")
    return binary


@dataclass
class Snapshot:
    """kstatus and Argo CD verdicts on the same versions of the live objects."""

    taken: float
    kstatus: dict[str, str] = field(default_factory=dict)
    argo: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    phases: dict[str, str] = field(default_factory=dict)
    reconciling: set[str] = field(default_factory=set)
    lagging: set[str] = field(default_factory=set)
    # No status.observedGeneration yet: the operator has not written to it.
    unpublished: set[str] = field(default_factory=set)
    # Objects that changed between the two reads: neither verdict is kept for them.
    moved: set[str] = field(default_factory=set)

    def disagreements(self) -> list[str]:
        return [
            f"{name}: kstatus {verdict} ({self.messages[name]}) but Argo CD {self.argo[name]}"
            for name, verdict in self.kstatus.items()
            if (
                (verdict, self.argo[name]) != UNPUBLISHED
                if name in self.unpublished
                else self.argo[name] not in AGREES.get(verdict, set())
            )
        ]

    def line(self) -> str:
        return ", ".join(
            f"{name}={self.phases[name]}:{self.kstatus[name]}/{self.argo[name]}"
            for name in sorted(self.kstatus)
        )


class Observer:
    """Takes snapshots: the kstatus helper and `kubectl get -o json`, started together."""

    def __init__(self, control_plane: ControlPlane, binary: Path, namespace: str) -> None:
        self._env = control_plane.env()
        self._kstatus = [
            str(binary),
            "--kubeconfig",
            str(control_plane.kubeconfig),
            "--namespace",
            namespace,
        ]
        self._kubectl = [str(kubectl_path()), "get", "hopperinstances", "-n", namespace]
        self._kubectl += ["-o", "json"]
        self.taken: list[Snapshot] = []

    def _run(self, argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def snapshot(self) -> Snapshot:
        start = time.monotonic()
        with self._run(self._kstatus) as ks, self._run(self._kubectl) as kc:
            ks_out, ks_err = ks.communicate(timeout=60)
            kc_out, kc_err = kc.communicate(timeout=60)
        assert ks.returncode == 0, f"kstatus exited with {ks.returncode}: {ks_out}{ks_err}"
        assert kc.returncode == 0, f"kubectl exited with {kc.returncode}: {kc_err}"
        verdicts = {v["name"]: v for v in map(json.loads, ks_out.splitlines())}
        objects = {o["metadata"]["name"]: o for o in json.loads(kc_out)["items"]}
        snap = Snapshot(taken=start)
        for name in verdicts.keys() | objects.keys():
            verdict, obj = verdicts.get(name), objects.get(name)
            if verdict is None or obj is None:
                snap.moved.add(name)
                continue
            if verdict["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                snap.moved.add(name)
                continue
            status = obj.get("status") or {}
            snap.kstatus[name] = verdict["status"]
            snap.messages[name] = verdict["message"]
            snap.argo[name] = argocd_health(obj)["status"]
            snap.phases[name] = status.get("phase", "-")
            if any(
                c["type"] == "Reconciling" and c["status"] == "True"
                for c in status.get("conditions", ())
            ):
                snap.reconciling.add(name)
            if "observedGeneration" not in status:
                snap.unpublished.add(name)
            elif status["observedGeneration"] != obj["metadata"]["generation"]:
                snap.lagging.add(name)
        self.taken.append(snap)
        return snap

    def settled(self, expected: Callable[[Snapshot], bool]) -> Snapshot:
        """Snapshots until one satisfies `expected`."""
        return wait_for(  # type: ignore[no-any-return]
            lambda: next((s for s in [self.snapshot()] if expected(s)), None),
            timeout=60,
            interval=0.1,
            what="kstatus and Argo CD to settle",
        )

    def disagreements(self) -> list[str]:
        return [
            f"t={snap.taken - self.taken[0].taken:.2f}s {problem}"
            for snap in self.taken
            for problem in snap.disagreements()
        ]


@dataclass
class Walk:
    patched: float
    snapshots: list[Snapshot]


def _snapshots_during(
    observer: Observer, change: Callable[[], None], *, until: Callable[[Snapshot], bool]
) -> Walk:
    """Snapshots back to back in a thread while `change()` runs, then until `until` holds."""
    snapshots: list[Snapshot] = []
    changed = threading.Event()
    stop = threading.Event()
    failure: list[BaseException] = []

    def poll() -> None:
        try:
            while not stop.is_set():
                snap = observer.snapshot()
                snapshots.append(snap)
                if changed.is_set() and snap.taken > patched[0] and until(snap):
                    return
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    patched = [float("inf")]
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        wait_for(lambda: snapshots or failure, timeout=30, interval=0.01, what="a snapshot")
        patched[0] = time.monotonic()
        change()
        changed.set()
        poller.join(timeout=60)
    finally:
        stop.set()
        poller.join(timeout=30)
    if failure:
        raise failure[0]
    assert not poller.is_alive(), "snapshots did not stop"
    assert until(snapshots[-1]), f"not settled after 60 s: {snapshots[-1].line()}"
    return Walk(patched[0], snapshots)


# Applied with the pause, so that the walk has witnesses that stay put: a child whose parent
# does not exist yet (ParentNotFound: Reconciling=True, InProgress until the parent comes)
# and one whose parent has the wrong scope (ParentScopeInvalid: Stalled=True, Failed).
WITNESSES = (
    instance("late-project", "PROJECT", parent="late-root"),
    instance("misplaced", "PROJECT", parent="acme-web-triage"),
)
LATE_ROOT = instance("late-root")


def _is(snap: Snapshot, names: set[str], kstatus: str, argo: set[str]) -> bool:
    return names <= snap.kstatus.keys() and all(
        snap.kstatus[n] == kstatus and snap.argo[n] in argo for n in names
    )


def _all_paused(snap: Snapshot) -> bool:
    return _is(snap, SAMPLES, "Current", {"Suspended"}) and all(
        snap.phases[n] == "Paused" for n in SAMPLES
    )


def test_kstatus_and_argocd_agree_through_a_pause_walk(
    kubectl: Kubectl,
    namespace: str,
    control_plane: ControlPlane,
    operator: Operator,
    kubelet: StandInKubelet,
    kstatus_binary: Path,
) -> None:
    observer = Observer(control_plane, kstatus_binary, namespace)
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=90)
    running = observer.settled(lambda s: _is(s, SAMPLES, "Current", {"Healthy"}))
    assert running.kstatus.keys() == SAMPLES, running.line()

    # Pause the root: the whole tree follows it down, one level after another, each step
    # well under a second. Snapshots run back to back from just before the change.
    def pause() -> None:
        set_state(kubectl, namespace, "acme", "Paused")
        apply(kubectl, namespace, *WITNESSES)

    walk = _snapshots_during(
        observer,
        pause,
        until=lambda s: (
            _all_paused(s)
            and _is(s, {"late-project"}, "InProgress", {"Progressing"})
            and _is(s, {"misplaced"}, "Failed", {"Degraded"})
        ),
    )
    print(f"{len(walk.snapshots)} snapshots around the pause:")
    for snap in walk.snapshots:
        print(f"  {snap.taken - walk.patched:+.3f}s {snap.line()} (moved: {sorted(snap.moved)})")
    in_progress = {
        name
        for snap in walk.snapshots
        for name, verdict in snap.kstatus.items()
        if verdict == "InProgress"
    }
    # The samples' own walk is seldom caught: its only InProgress version is the root's,
    # between the patch and the operator's next status write (tens of milliseconds); every
    # child goes from Running/Ready to Paused/Ready in one write.
    print(f"InProgress seen for: {sorted(in_progress)}")
    assert in_progress, "kstatus never reported InProgress during the walk"
    assert "late-project" in in_progress
    for snap in walk.snapshots:
        for name, verdict in snap.kstatus.items():
            if verdict == "InProgress":
                # InProgress says why: a generation not yet observed, or Reconciling=True.
                assert name in snap.reconciling | snap.lagging, (name, snap.line())

    # The missing parent appears: its child converges on its own.
    apply(kubectl, namespace, LATE_ROOT)
    wait_for_phases(kubectl, namespace, {"late-root": "Running", "late-project": "Running"})
    observer.settled(
        lambda s: (
            _all_paused(s)
            and _is(s, {"late-root", "late-project"}, "Current", {"Healthy"})
            and _is(s, {"misplaced"}, "Failed", {"Degraded"})
        )
    )

    # The stalled one goes; everything left is Current, and Argo CD shows the paused tree
    # Suspended and the rest Healthy.
    kubectl("delete", "hopperinstance", "misplaced", "-n", namespace, "--wait=false")
    final = observer.settled(
        lambda s: (
            "misplaced" not in s.kstatus.keys() | s.moved
            and _all_paused(s)
            and _is(s, {"late-root", "late-project"}, "Current", {"Healthy"})
        )
    )
    assert final.kstatus.keys() == SAMPLES | {"late-root", "late-project"}, final.line()

    compared = sum(len(snap.kstatus) for snap in observer.taken)
    skipped = sum(len(snap.moved) for snap in observer.taken)
    unpublished = sum(len(snap.unpublished) for snap in observer.taken)
    seen = sorted({(v, snap.argo[n]) for snap in observer.taken for n, v in snap.kstatus.items()})
    print(
        f"{len(observer.taken)} snapshots, {compared} verdict pairs compared "
        f"({unpublished} before the operator's first status write), {skipped} skipped "
        f"(object changed between the two reads); pairs seen: {seen}"
    )
    assert not observer.disagreements(), "\n".join(observer.disagreements())
