"""`hopper-operator dev`: the whole product on this machine, in one command.

Starts a local control plane, installs the CRD, applies the samples, runs a stand-in
kubelet (so workloads become available) and the operator in the foreground. Ctrl-C stops
the operator, then everything else; nothing is left running or on disk.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from hopper_operator.controller.settings import Settings
from hopper_operator.controlplane import ControlPlane, ControlPlaneError, find_binary
from hopper_operator.controlplane.binaries import repo_root
from hopper_operator.controlplane.kubelet import StandInKubelet


def _kubectl(plane: ControlPlane, *args: str) -> None:
    result = subprocess.run(
        [str(find_binary("kubectl")), *args],
        env=plane.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")


def _paste_line(plane: ControlPlane) -> str:
    # The kubectl built with the control plane, and the `kubectl hopper` plugin beside
    # this Python, first on PATH: nothing else needs installing to try it.
    paths = [str(find_binary("kubectl").parent), str(Path(sys.executable).parent)]
    return f'export KUBECONFIG={plane.kubeconfig} PATH="{":".join(paths)}:$PATH"'


def _run_operator(plane: ControlPlane, options: Settings, namespace: str) -> None:
    """`hopper-operator run` in a child process, as it is deployed, until Ctrl-C."""
    command = [sys.executable, "-m", "hopper_operator.cli.main", "run", "-n", namespace]
    command += ["--workers", str(options.workers), "--metrics-port", str(options.metrics_port)]
    operator = subprocess.Popen(command, env=plane.env())
    try:
        operator.wait()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the operator too, a `kill -INT` only us: pass it on.
        operator.send_signal(signal.SIGTERM)
        try:
            operator.wait(timeout=20)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()


def dev(options: Settings, *, namespace: str) -> int:
    root = repo_root()
    if root is None:
        print("hopper-operator dev runs from a checkout (it applies crds/ and manifests/samples/)")
        return 2
    try:
        plane = ControlPlane()
        plane.start()
    except ControlPlaneError as error:
        print(f"The local control plane did not start:\n{error}", file=sys.stderr)
        return 1
    kubelet = StandInKubelet(plane)
    try:
        _kubectl(plane, "apply", "-f", str(root / "crds" / "hopperinstances.hopper.dev.yaml"))
        _kubectl(
            plane,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/hopperinstances.hopper.dev",
        )
        if namespace != "default":
            _kubectl(plane, "create", "namespace", namespace)
        _kubectl(plane, "apply", "-n", namespace, "-k", str(root / "manifests" / "samples"))
        kubelet.start()
        print(
            "\nhopper-operator dev is up. In another terminal, paste:\n\n"
            f"  {_paste_line(plane)}\n\n"
            "then try: kubectl get hopper; kubectl hopper tree; kubectl hopper pause acme\n"
            "Ctrl-C here stops everything.\n",
            flush=True,
        )
        _run_operator(plane, options, namespace)
    except ControlPlaneError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        kubelet.stop()
        plane.stop()
    return 0
