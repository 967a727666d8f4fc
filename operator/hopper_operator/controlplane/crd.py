"""Install the HopperInstance CRD on a control plane and wait until it is served.

The one place that does it, for `hopper-operator dev`, the tests and the benchmark.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping

from hopper_operator.api.crd import crd_yaml
from hopper_operator.api.meta import CRD_NAME
from hopper_operator.controlplane.binaries import ControlPlaneError
from hopper_operator.controlplane.launcher import kubectl_path

ESTABLISHED = '{.status.conditions[?(@.type=="Established")].status}'


def install_crd(env: Mapping[str, str], *, timeout: float = 60.0) -> None:
    """`kubectl apply` the CRD generated from the models, then wait for Established.

    Polled rather than `kubectl wait --for=condition=Established`: right after the apply
    the CRD may have no status yet, and kubectl wait then fails at once ("conditions
    accessor error: <nil>") instead of waiting.
    """
    _kubectl(env, "apply", "-f", "-", stdin=crd_yaml())
    deadline = time.monotonic() + timeout
    while _kubectl(env, "get", "crd", CRD_NAME, "-o", f"jsonpath={ESTABLISHED}") != "True":
        if time.monotonic() >= deadline:
            raise ControlPlaneError(f"crd/{CRD_NAME} not Established after {timeout:.0f} s")
        time.sleep(0.1)


def _kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(kubectl_path()), *args],
        input=stdin,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"kubectl {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()
