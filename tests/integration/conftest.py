"""Fixtures for tests that need the HopperInstance CRD, the operator, or a stand-in kubelet."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import Kubectl, kubectl_for

from hopper_localcluster import ControlPlane
from hopper_localcluster.crd import install_crd
from hopper_localcluster.kubelet import StandInKubelet
from hopper_operator.api.crd import CRD_FILE
from hopper_operator.api.meta import API_VERSION, KIND

ROOT = Path(__file__).parents[2]
CRD = ROOT / CRD_FILE
SAMPLES = ROOT / "manifests" / "samples"


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> None:
    install_crd(control_plane.env())


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    """A HopperInstance manifest; `spec` in the API's own field names (parentRef, ...)."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}


def instance(name: str, scope: str = "GLOBAL", *, parent: str | None = None, **spec: Any) -> Any:
    """A HopperInstance of `scope`, under `parent` if given."""
    if parent is not None:
        spec["parentRef"] = {"name": parent}
    return manifest(name, scope=scope, **spec)


def apply(
    kubectl: Kubectl, namespace: str, *objects: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply` the objects in `namespace`, in one request per object, as kubectl does.

    Sent as JSON: kubectl reads YAML 1.1, where a key such as `y` or `on` turns boolean.
    """
    body = (
        objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    )
    return kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body), check=check)


def get_json(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.25, what: str = ""
) -> Any:
    """Poll until `condition()` is truthy; fail with what was last seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what or condition}: last {last!r}"
    )


class Operator:
    """`hopper-operator run` as a subprocess, as it is deployed (and so it can be killed)."""

    def __init__(
        self,
        control_plane: ControlPlane,
        namespace: str | None,
        log: Path,
        *extra_args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        """`namespace`: the one namespace watched (`-n`); None: all of them. `env`: set
        over the control plane's (its KUBECONFIG names the admin)."""
        self._env = {**control_plane.env(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self._namespace = namespace
        self._extra_args = extra_args or ("--metrics-port", "0")
        self._log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hopper_operator.cli.main",
                "run",
                *(("-n", self._namespace) if self._namespace else ()),
                *self._extra_args,
            ],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")


@pytest.fixture
def operator(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    running = Operator(control_plane, namespace, tmp_path / "operator.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        # Captured output is shown only for a failing test: there, the operator's story.
        print("\n".join(running.log().splitlines()[-200:]))


def watch_phases(kubectl_binary: str, env: dict[str, str], namespace: str) -> subprocess.Popen[str]:
    """`kubectl get --watch`, one `name phase` line per change of an instance."""
    return subprocess.Popen(
        [
            kubectl_binary,
            "get",
            "hopperinstances",
            "-n",
            namespace,
            "--watch",
            "-o",
            'jsonpath={.metadata.name}{" "}{.status.phase}{"\\n"}',
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


class PhaseRecorder:
    """Every phase each instance passes through, read from a real watch."""

    def __init__(self, kubectl_binary: str, env: dict[str, str], namespace: str) -> None:
        self._process = watch_phases(kubectl_binary, env, namespace)
        self.phases: dict[str, list[str]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        self._record_lines(self._process)

    def _record_lines(self, process: subprocess.Popen[str], suffix: str = "") -> None:
        """Append each line's phase to its instance's list (under `name + suffix`)."""
        assert process.stdout is not None
        for line in process.stdout:
            name, _, phase = line.strip().partition(" ")
            seen = self.phases.setdefault(name + suffix, [])
            if phase and (not seen or seen[-1] != phase):
                seen.append(phase)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    def illegal_steps(self) -> list[str]:
        from hopper_operator.api.enums import Phase
        from hopper_operator.core.lifecycle import is_legal

        return [
            f"{name}: {a} -> {b} in {seen}"
            for name, seen in self.phases.items()
            for a, b in itertools.pairwise(seen)
            if not is_legal(Phase(a), Phase(b))
        ]


@pytest.fixture
def phases(control_plane: ControlPlane, crd: None, namespace: str) -> Iterator[PhaseRecorder]:
    from hopper_localcluster import kubectl_path

    recorder = PhaseRecorder(str(kubectl_path()), control_plane.env(), namespace)
    try:
        yield recorder
    finally:
        recorder.stop()
    # Whatever the test did, no instance ever took an illegal step.
    assert not recorder.illegal_steps(), recorder.illegal_steps()


@pytest.fixture
def kubelet(control_plane: ControlPlane) -> Iterator[StandInKubelet]:
    stand_in = StandInKubelet(control_plane).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def instances(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    items = get_json(kubectl, "hopperinstances", "-n", namespace)["items"]
    return {item["metadata"]["name"]: item for item in items}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions", ()) if c["type"] == kind]
    return found[0] if found else {}


def wait_for_phases(
    kubectl: Kubectl, namespace: str, expected: str | dict[str, str], *, timeout: float = 60.0
) -> dict[str, dict[str, Any]]:
    """Wait until every instance (or each one named) shows its expected phase, Ready."""

    def reached() -> dict[str, dict[str, Any]] | None:
        live = instances(kubectl, namespace)
        wanted = expected if isinstance(expected, dict) else dict.fromkeys(live, expected)
        ok = all(
            name in live
            and live[name].get("status", {}).get("phase") == phase
            and condition(live[name], "Ready").get("status") == "True"
            for name, phase in wanted.items()
        )
        return live if ok and wanted else None

    def seen() -> str:
        return ", ".join(
            f"{n}={o.get('status', {}).get('phase')}/{condition(o, 'Ready').get('reason')}"
            for n, o in instances(kubectl, namespace).items()
        )

    try:
        return wait_for(reached, timeout=timeout, what=f"phases {expected}")  # type: ignore[no-any-return]
    except AssertionError as error:
        raise AssertionError(f"{error}\nnow: {seen()}") from None


def apply_samples(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-k", str(SAMPLES))


def owned_objects(kubectl: Kubectl, namespace: str) -> str:
    """What instances own in `namespace` (Deployments, ConfigMaps, Pods), one per line."""
    kinds = "deployments,configmaps,pods"
    return kubectl("get", kinds, "-n", namespace, "-l", "hopper.dev/instance", "-o", "name").stdout


def set_state(kubectl: Kubectl, namespace: str, name: str, state: str) -> None:
    patch = json.dumps({"spec": {"state": state}})
    kubectl("patch", "hopperinstance", name, "-n", namespace, "--type=merge", "-p", patch)


def service_account_kubeconfig(
    control_plane: ControlPlane, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig with the control plane's server and CA and a token of `account` as its
    only credential (no client certificate: not the admin)."""
    kubectl = kubectl_for(control_plane)
    token = kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout
    cluster = yaml.safe_load(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "hopper",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": account, "user": {"token": token.strip()}}],
        "contexts": [{"name": "hopper", "context": {"cluster": "hopper", "user": account}}],
        "current-context": "hopper",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    whoami = kubectl(
        "--kubeconfig", str(path), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert whoami.stdout == f"system:serviceaccount:{namespace}:{account}"
    return path


# The REST Instance API's fixtures live beside its tests; collected here.
from tests.integration.rest_fixtures import api_kube, editor, tokens  # noqa: E402, F401
