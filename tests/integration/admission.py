"""What the admission tests share: webhook configurations that kube-apiserver calls over TLS
on 127.0.0.1, operators that serve them, and probes that tell the webhooks answer."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import instance, wait_for
from tests.integration.ha import Audit, Replica

from hopper_localcluster import ControlPlane, free_ports
from hopper_localcluster.admission import configurations


@pytest.fixture
def webhook_configurations(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    """The configurations' name; their webhooks are added by `install`."""
    name = f"hopper-{namespace}"
    yield name
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        kubectl("delete", kind, name, "--ignore-not-found", check=False)


def install(kubectl: Kubectl, name: str, ports: list[int], namespace: str) -> None:
    for configuration in configurations(name, ports, namespace):
        kubectl("apply", "-f", "-", input=json.dumps(configuration))


def webhook_replica(
    plane: ControlPlane,
    namespace: str,
    log: Path,
    name: str,
    port: int,
    configuration: str,
    *extra: str,
) -> Replica:
    return Replica(
        plane,
        namespace,
        log,
        name,
        "--metrics-port",
        "0",
        "--webhook-port",
        str(port),
        "--webhook-host",
        "127.0.0.1",
        "--webhook-configuration",
        configuration,
        *extra,
    )


@contextlib.contextmanager
def serving_replica(
    plane: ControlPlane, kubectl: Kubectl, namespace: str, configuration: str, log: Path,
    *extra: str,
) -> Iterator[tuple[Replica, int]]:  # fmt: skip
    """One operator serving the webhooks on a free port, kube-apiserver already calling it;
    stopped on the way out, its log's tail printed for a failure to show."""
    (port,) = free_ports(1)
    install(kubectl, configuration, [port], namespace)
    operator = webhook_replica(plane, namespace, log, "op", port, configuration, *extra)
    operator.start()
    try:
        wait_admitting(kubectl, namespace)
        yield operator, port
    finally:
        operator.stop()
        print(operator.tail())


def dry_run_create(kubectl: Kubectl, namespace: str, obj: dict[str, Any]) -> Any:
    """What the API server would store, webhooks included, storing nothing."""
    done = kubectl(
        "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-",
        input=json.dumps(obj), check=False,
    )  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else None


def stamped(obj: Any) -> bool:
    return bool(obj) and "hopper.dev/finalizer" in (obj["metadata"].get("finalizers") or ())


def wait_admitting(kubectl: Kubectl, namespace: str) -> None:
    """Until kube-apiserver calls the mutating webhook (its caBundle published, its
    configuration cache refreshed): a dry-run create comes back stamped."""
    probe = instance("probe", "GLOBAL")
    wait_for(
        lambda: stamped(dry_run_create(kubectl, namespace, probe)),
        timeout=60,
        what="the webhooks to answer",
    )


def metadata_patches(audit: Audit, namespace: str, name: str) -> int:
    """The operator's writes of an instance's metadata (status goes to /status)."""
    return sum(
        1
        for w in audit.writes(namespace)
        if w.agent.startswith("hopper-operator/")
        and w.resource == "hopperinstances"
        and w.verb == "patch"
        and w.name == name
    )
