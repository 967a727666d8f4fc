"""`kubectl hopper` as a user runs it: found on PATH by the real kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    apply_samples,
    instance,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.kubelet import StandInKubelet


def plugin(
    control_plane: ControlPlane, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = control_plane.env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [str(kubectl_path()), "hopper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def with_context(control_plane: ControlPlane, directory: Path, name: str) -> Path:
    """A copy of the control plane's kubeconfig with one more context, `name`."""
    copy = directory / "kubeconfig"
    shutil.copy(control_plane.kubeconfig, copy)
    config = yaml.safe_load(copy.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    config["contexts"].append({"name": name, "context": dict(current["context"])})
    config["current-context"] = "unused"  # so only --context can make the call work
    copy.write_text(yaml.safe_dump(config))
    return copy


def test_verbs_tree_and_wait_exit_codes(
    tmp_path: Path,
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    control_plane: ControlPlane,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=90)
    tree = plugin(control_plane, "-n", namespace, "tree")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith("acme [GLOBAL] Running")
    assert any(
        line.startswith("│   └── acme-web-triage") or "└── acme-web-triage" in line
        for line in lines
    )

    # As a kubectl user types it: flags after the name, a context of the kubeconfig.
    kubeconfig = with_context(control_plane, tmp_path, "dev")
    paused = plugin(
        control_plane,
        "pause",
        "acme",
        "-n",
        namespace,
        "--context",
        "dev",
        "--wait",
        kubeconfig=kubeconfig,
    )
    assert paused.returncode == 0, paused.stderr
    nowhere = plugin(control_plane, "tree", "-n", namespace, "--context=nowhere")
    assert nowhere.returncode == 2 and 'context "nowhere"' in nowhere.stderr, nowhere.stderr
    wait_for_phases(kubectl, namespace, "Paused")
    assert plugin(control_plane, "-n", namespace, "resume", "acme", "--wait").returncode == 0
    wait_for_phases(kubectl, namespace, "Running")
    restarted = plugin(control_plane, "-n", namespace, "restart", "acme-data", "--wait")
    assert restarted.returncode == 0, restarted.stderr
    assert phases.phases["acme-data"][-4:] == ["Stopping", "Stopped", "Starting", "Running"]

    missing = plugin(control_plane, "-n", namespace, "wait", "nope", "--timeout", "2")
    assert missing.returncode == 2 and "not found" in missing.stderr
    apply(kubectl, namespace, instance("waits", "PROJECT", parent="absent"))
    timed_out = plugin(control_plane, "-n", namespace, "wait", "waits", "--timeout", "3")
    assert timed_out.returncode == 1
    apply(kubectl, namespace, instance("wrong", "PROJECT", parent="acme-web-triage"))
    stalled = plugin(control_plane, "-n", namespace, "wait", "wrong", "--timeout", "60")
    assert stalled.returncode == 3


def test_back_to_back_restarts_are_each_carried_out(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    control_plane: ControlPlane,
    phases: PhaseRecorder,
) -> None:
    apply(kubectl, namespace, instance("lone"))
    assert plugin(control_plane, "-n", namespace, "wait", "lone").returncode == 0
    for _ in range(2):
        restarted = plugin(control_plane, "-n", namespace, "restart", "lone", "--wait")
        assert restarted.returncode == 0, restarted.stderr

    # A token equal to the last start's own timestamp: compared as a time, it would not be
    # newer than that start, and the restart would be lost.
    def status() -> dict[str, Any]:
        got = kubectl("get", "hopperinstance", "lone", "-n", namespace, "-o", "json").stdout
        return dict(json.loads(got)["status"])

    same_second = status()["startedAt"]
    kubectl(
        "annotate",
        "hopperinstance",
        "lone",
        "-n",
        namespace,
        f"hopper.dev/restartedAt={same_second}",
        "--overwrite",
    )
    wait_for(lambda: status().get("lastRestart") == same_second, what="the third restart")
    waited = plugin(control_plane, "-n", namespace, "wait", "lone", "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    cycle = ["Stopping", "Stopped", "Starting", "Running"]
    assert phases.phases["lone"][-12:] == cycle * 3, phases.phases["lone"]
