"""Install the HopperInstance CRD on a control plane and wait until it is served.

The one place that does it, for `hopper-localcluster dev`, the tests and the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping

from hopper_localcluster.binaries import ControlPlaneError
from hopper_localcluster.launcher import kubectl_path
from hopper_operator.api.crd import crd_yaml
from hopper_operator.api.meta import CRD_NAME

POLL_SECONDS = 0.2


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
    return result.stdout


def _established(crd_json: str) -> bool:
    conditions = (json.loads(crd_json).get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install_crd(env: Mapping[str, str], *, timeout: float = 60.0) -> None:
    """`kubectl apply` the CRD generated from the models, then wait for Established.

    Read and judged here rather than by `kubectl wait --for=condition=Established` or a
    jsonpath filter: both fail at once, instead of waiting, while a CRD just created has
    `status.conditions: null` (seen under load).
    """
    _kubectl(env, "apply", "-f", "-", stdin=crd_yaml())
    wait_established(env, CRD_NAME, timeout=timeout)


def wait_established(env: Mapping[str, str], *names: str, timeout: float = 60.0) -> None:
    """Wait until every named CRD is Established (judged here, for the reason above)."""
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(_kubectl(env, "get", f"crd/{name}", "-o", "json")):
            if time.monotonic() >= deadline:
                raise ControlPlaneError(f"crd/{name} not Established after {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
