"""What the HA and fault tests share: a control plane with an audit log of every write, the
operator as a named replica, the Lease as the API server holds it, and trees to walk.

The audit log is the witness: each replica's requests carry its identity in the
User-Agent (`hopper-operator/0.1 (<pod name>_<suffix>)`), so "who wrote what, when" is
read from kube-apiserver's own record, not from what the operators say about themselves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Kubectl, identify, survivors
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    get_json,
    wait_for,
    watch_phases,
)

from hopper_localcluster import ControlPlane, ControlPlaneError, kubectl_path
from hopper_localcluster.crd import install_crd

LEASE = "hopper-operator"
LEASE_DURATION = 15.0  # the defaults, as deployed: the tests measure the real thing
WRITES = ("create", "update", "patch", "delete", "deletecollection")

# Writes only (the witness needs no reads), and only once complete.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
"""


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """Overrides the session's plane in the modules that import it: one of their own, with
    an audit log, whose faults disturb nobody (`kubectl` and `namespace` then use it)."""
    policy = tmp_path_factory.mktemp("audit") / "policy.yaml"
    policy.write_text(AUDIT_POLICY)
    plane = ControlPlane(audit_policy=policy)
    try:
        plane.start()
    except ControlPlaneError as error:
        pytest.fail(f"The local control plane did not start:\n{error}", pytrace=False)
    processes = identify(plane.processes)
    try:
        install_crd(plane.env())
        yield plane
    finally:
        plane.stop()
    assert not survivors(processes), survivors(processes)


class Replica(Operator):
    """`hopper-operator run` as the pod `name` would run it (POD_NAME names its identity)."""

    def __init__(
        self,
        plane: ControlPlane,
        namespace: str,
        log: Path,
        name: str,
        *extra: str,
        kubeconfig: Path | None = None,
    ) -> None:
        super().__init__(plane, namespace, log, *(extra or ("--metrics-port", "0")))
        self.name = name
        self._env["POD_NAME"] = name
        if kubeconfig is not None:
            self._env["KUBECONFIG"] = str(kubeconfig)

    def signal(self, sig: signal.Signals) -> float:
        """Send `sig`; the wall-clock time it was sent (audit timestamps are wall clock)."""
        assert self.process is not None
        sent = time.time()
        self.process.send_signal(sig)
        return sent

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


@pytest.fixture
def replicas(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Two replicas, a and b, both started; whoever wins the Lease leads."""
    started = [
        Replica(control_plane, namespace, tmp_path / f"{n}.log", n) for n in ("op-a", "op-b")
    ]
    for replica in started:
        replica.start()
    try:
        yield started
    finally:
        for replica in started:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.send_signal(signal.SIGCONT)  # in case a test froze it
            replica.stop()
        for replica in started:
            print(f"--- {replica.name} ---\n{replica.tail(120)}")


def lease(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    found = kubectl("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(found.stdout)["spec"]) if found.returncode == 0 else {}


def holder(kubectl: Kubectl, namespace: str) -> str:
    return str(lease(kubectl, namespace).get("holderIdentity") or "")


def leader_of(kubectl: Kubectl, namespace: str, replicas: list[Replica]) -> tuple[Replica, Replica]:
    """(leader, standby), once the Lease names one of them."""
    name = wait_for(
        lambda: holder(kubectl, namespace).rsplit("_", 1)[0], timeout=60, what="a leader"
    )
    (leader,) = [r for r in replicas if r.name == name]
    (standby,) = [r for r in replicas if r is not leader]
    return leader, standby


def micro_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Write:
    at: float  # when the API server received it (wall clock)
    agent: str
    verb: str
    resource: str
    name: str
    code: int


class Audit:
    def __init__(self, plane: ControlPlane) -> None:
        assert plane.audit_log is not None
        self.path = plane.audit_log

    def writes(self, namespace: str) -> list[Write]:
        found = []
        with self.path.open() as log:
            for line in log:
                event = json.loads(line)
                ref = event.get("objectRef") or {}
                if event.get("stage") != "ResponseComplete" or ref.get("namespace") != namespace:
                    continue
                resource = ref.get("resource", "")
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                found.append(
                    Write(
                        at=micro_time(event["requestReceivedTimestamp"]),
                        agent=event.get("userAgent", ""),
                        verb=event["verb"],
                        resource=resource,
                        name=ref.get("name", ""),
                        code=(event.get("responseStatus") or {}).get("code", 0),
                    )
                )
        return found

    def by(self, replica: Replica, namespace: str, *, since: float = 0.0) -> list[Write]:
        """What `replica` wrote in `namespace` from `since` on (its identity is in the agent)."""
        needle = f"({replica.name}_"
        return [w for w in self.writes(namespace) if needle in w.agent and w.at >= since]


def tree(namespace: str, projects: int, per_project: int, state: str = "Running") -> str:
    """A GLOBAL root, `projects` PROJECTs under it, `per_project` ORCHESTRATIONs under each,
    as one kubectl-ready JSON list."""

    def instance(name: str, scope: str, parent: str | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"scope": scope, "state": state}
        if parent:
            spec["parentRef"] = {"name": parent}
        return {
            "apiVersion": "hopper.dev/v1alpha1",
            "kind": "HopperInstance",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    items = [instance("root", "GLOBAL", None)]
    for p in range(projects):
        items.append(instance(f"p{p}", "PROJECT", "root"))
        items += [instance(f"p{p}-o{o}", "ORCHESTRATION", f"p{p}") for o in range(per_project)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def phases_now(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    items = get_json(kubectl, "hopperinstances", "-n", namespace)["items"]
    return {i["metadata"]["name"]: (i.get("status") or {}).get("phase", "") for i in items}


def all_in(kubectl: Kubectl, namespace: str, phase: str, count: int, timeout: float) -> None:
    def done() -> bool:
        now = phases_now(kubectl, namespace)
        return len(now) == count and all(p == phase for p in now.values())

    def summary() -> str:
        now = phases_now(kubectl, namespace)
        return ", ".join(f"{p or '-'}: {list(now.values()).count(p)}" for p in set(now.values()))

    try:
        wait_for(done, timeout=timeout, interval=0.5, what=f"{count} instances {phase}")
    except AssertionError as error:
        raise AssertionError(f"{error}\nnow: {summary()}") from None


class WatchingRecorder(PhaseRecorder):
    """A PhaseRecorder whose `kubectl get --watch` is restarted whenever the API server
    drops it (a kube-apiserver restart ends every watch). Steps across such a gap were not
    seen, so they are not judged: after a gap each instance's phases start a new list."""

    def __init__(self, plane: ControlPlane, namespace: str) -> None:
        self._kubectl, self._env, self._namespace = str(kubectl_path()), plane.env(), namespace
        self.phases: dict[str, list[str]] = {}
        self._gaps = 0
        self._process: subprocess.Popen[str] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._process = watch_phases(self._kubectl, self._env, self._namespace)
            self._record_lines(self._process, f"#{self._gaps}" if self._gaps else "")
            self._process.wait()
            self._gaps += 1
            time.sleep(0.5)

    def last(self, name: str) -> str:
        runs = [seen for key, seen in self.phases.items() if key.split("#")[0] == name and seen]
        return runs[-1][-1] if runs else ""

    def stop(self) -> None:
        self._stopping.set()
        if self._process is not None:
            self._process.terminate()
        self._thread.join(timeout=10)
