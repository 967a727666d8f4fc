"""Install the HopperInstance CRD on a control plane and wait until it is served.

The one place that does it, for `hopper-operator dev`, the tests and the benchmark.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from hopper_operator.api.crd import crd_yaml
from hopper_operator.api.meta import CRD_NAME
from hopper_operator.controlplane.binaries import ControlPlaneError
from hopper_operator.controlplane.launcher import kubectl_path


def install_crd(env: Mapping[str, str], *, timeout: float = 60.0) -> None:
    """`kubectl apply` the CRD generated from the models, then wait for Established."""
    kubectl = str(kubectl_path())
    steps = (
        ([kubectl, "apply", "-f", "-"], crd_yaml()),
        (
            [
                kubectl,
                "wait",
                "--for=condition=Established",
                f"--timeout={timeout:.0f}s",
                f"crd/{CRD_NAME}",
            ],
            None,
        ),
    )
    for argv, stdin in steps:
        result = subprocess.run(
            argv, input=stdin, env=dict(env), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ControlPlaneError(f"{' '.join(argv[1:3])} failed: {result.stderr.strip()}")
