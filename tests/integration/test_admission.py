"""The admission webhooks against the real control plane: kube-apiserver calls them over TLS.

Who wrote what is read from kube-apiserver's audit log (this module's own plane, as the HA
tests'), never from what the operator says about itself.
"""

from __future__ import annotations

import base64
import json
import signal
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from tests.conftest import Kubectl
from tests.integration.admission import (
    dry_run_create,
    install,
    metadata_patches,
    serving_replica,
    stamped,
    wait_admitting,
    webhook_configurations,
    webhook_replica,
)
from tests.integration.conftest import (
    apply,
    condition,
    get_json,
    instance,
    wait_for,
    wait_for_phases,
)
from tests.integration.ha import Audit, control_plane, leader_of

from hopper_localcluster import ControlPlane
from hopper_localcluster.processes import free_ports
from hopper_operator.api.enums import Scope
from hopper_operator.core.tree import parent_scope_error

__all__ = ["control_plane", "webhook_configurations"]  # fixtures, used by name

WRONG_RANK = parent_scope_error(Scope.PROJECT, Scope.ORCHESTRATION)
assert WRONG_RANK is not None
TREE = (
    instance("g", "GLOBAL"),
    instance("p", "PROJECT", parent="g"),
    instance("o", "ORCHESTRATION", parent="p"),
)


def refused(kubectl: Kubectl, namespace: str, *flags: str) -> str:
    """Apply a PROJECT under the ORCHESTRATION `o`; kubectl's error output."""
    bad = json.dumps(instance("bad", "PROJECT", parent="o"))
    done = kubectl("apply", *flags, "-n", namespace, "-f", "-", input=bad, check=False)
    assert done.returncode != 0, done.stdout
    return done.stderr


@pytest.fixture
def serving(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    webhook_configurations: str,
    tmp_path: Path,
) -> Iterator[None]:
    """One operator serving the webhooks for `namespace`, for the test's length."""
    with serving_replica(
        control_plane, kubectl, namespace, webhook_configurations, tmp_path / "op.log"
    ):
        yield


def test_wrong_rank_refused_at_apply_and_dry_run_child_first_reported_stalled(
    serving: None, kubectl: Kubectl, namespace: str
) -> None:
    # Children first, before their parents: accepted (any order); the right rank
    # converges, the wrong one is reported.
    apply(kubectl, namespace, instance("early", "PROJECT", parent="o"))
    apply(kubectl, namespace, instance("early-ok", "ORCHESTRATION", parent="p"))
    apply(kubectl, namespace, *TREE)
    wait_for_phases(kubectl, namespace, dict.fromkeys(("g", "p", "o", "early-ok"), "Running"))
    for flags in (("--dry-run=server",), ()):
        error = refused(kubectl, namespace, *flags)
        assert WRONG_RANK in error and "denied the request" in error, error
    assert kubectl("get", "hopperinstance", "bad", "-n", namespace, check=False).returncode
    stalled = wait_for(
        lambda: condition(get_json(kubectl, "hopperinstance", "early", "-n", namespace),
                          "Stalled") or None,
        what="early reported Stalled",
    )  # fmt: skip
    assert (stalled["status"], stalled["message"]) == ("True", WRONG_RANK)


def test_a_create_comes_back_stamped_and_the_operator_writes_no_metadata(
    serving: None, control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, TREE[0])
    wait_for_phases(kubectl, namespace, {"g": "Running"})
    uid = get_json(kubectl, "hopperinstance", "g", "-n", namespace)["metadata"]["uid"]
    created = json.loads(
        kubectl("create", "-n", namespace, "-o", "json", "-f", "-",
                input=json.dumps(TREE[1])).stdout
    )  # fmt: skip
    meta = created["metadata"]
    assert meta["finalizers"] == ["hopper.dev/finalizer"]
    assert meta["labels"] == {
        "hopper.dev/scope": "PROJECT",
        "hopper.dev/parent": "g",
        "hopper.dev/root": "g",
    }
    assert [(r["kind"], r["name"], r["uid"], r["controller"]) for r in
            meta["ownerReferences"]] == [("HopperInstance", "g", uid, True)]  # fmt: skip
    wait_for_phases(kubectl, namespace, {"g": "Running", "p": "Running"})
    audit = Audit(control_plane)
    assert metadata_patches(audit, namespace, "g") == 0
    assert metadata_patches(audit, namespace, "p") == 0


def test_webhook_down_applies_succeed_and_converge_and_nothing_is_written_twice(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    webhook_configurations: str,
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)
    install(kubectl, webhook_configurations, [port], namespace)
    first = webhook_replica(
        control_plane, namespace, tmp_path / "a.log", "op-a", port, webhook_configurations
    )
    first.start()
    try:
        wait_admitting(kubectl, namespace)  # the caBundle is published: the webhooks are live
    finally:
        first.stop()
    # Every webhook down (its process stopped): the applies go through unjudged.
    apply(kubectl, namespace, *TREE)
    unstamped = get_json(kubectl, "hopperinstances", "-n", namespace)["items"]
    assert not any(stamped(item) for item in unstamped)
    again = webhook_replica(
        control_plane, namespace, tmp_path / "b.log", "op-b", port, webhook_configurations
    )
    again.start()
    try:
        wait_for_phases(kubectl, namespace, dict.fromkeys(("g", "p", "o"), "Running"))
        wait_admitting(kubectl, namespace)
        apply(kubectl, namespace, instance("late", "ORCHESTRATION", parent="p"))
        wait_for_phases(kubectl, namespace, {"late": "Running"})
        audit = Audit(control_plane)
        # The fallback wrote each one's metadata once; the webhook's create needed none.
        assert {n: metadata_patches(audit, namespace, n) for n in ("g", "p", "o", "late")} == {
            "g": 1, "p": 1, "o": 1, "late": 0,
        }  # fmt: skip
    finally:
        again.stop()
        print(again.tail())


def test_the_standby_keeps_answering_while_the_leader_is_killed(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    webhook_configurations: str,
    tmp_path: Path,
) -> None:
    ports = free_ports(2)
    install(kubectl, webhook_configurations, ports, namespace)
    pair = [
        webhook_replica(
            control_plane, namespace, tmp_path / f"{n}.log", n, port, webhook_configurations
        )
        for n, port in zip(("op-a", "op-b"), ports, strict=True)
    ]
    for replica in pair:
        replica.start()
    try:
        wait_admitting(kubectl, namespace)
        # Each replica is its own URL here, with no readiness in front of it (the chart's
        # Service routes to Ready pods only): the standby must serve before the kill, or
        # this would test its start, not its answering.
        for port in ports:
            wait_for(
                lambda port=port: serves(port, secret(kubectl, namespace)["ca.crt"]),
                timeout=60,
                what=f"the replica on port {port} to serve the shared certificate",
            )
        apply(kubectl, namespace, *TREE)
        wait_for_phases(kubectl, namespace, dict.fromkeys(("g", "p", "o"), "Running"))
        leader, standby = leader_of(kubectl, namespace, pair)
        leader.signal(signal.SIGKILL)
        assert leader.process is not None
        leader.process.wait(timeout=10)
        # At once, before the standby may take the Lease: the standby alone judges.
        assert WRONG_RANK in refused(kubectl, namespace, "--dry-run=server")
        assert stamped(dry_run_create(kubectl, namespace, instance("x", "PROJECT", parent="g")))
        wait_for(
            lambda: standby.name in leader_of(kubectl, namespace, pair)[0].name,
            timeout=60,
            what="the standby to lead",
        )
        assert WRONG_RANK in refused(kubectl, namespace)
        apply(kubectl, namespace, instance("after", "PROJECT", parent="g"))
        wait_for_phases(kubectl, namespace, {"after": "Running"})
        assert metadata_patches(Audit(control_plane), namespace, "after") == 0
    finally:
        for replica in pair:
            replica.stop()
            print(f"--- {replica.name} ---\n{replica.tail()}")


def served(port: int, ca: bytes) -> bytes:
    """The certificate a new TLS connection is shown, verified against `ca` (a handshake
    fails on an expired one)."""
    context = ssl.create_default_context(cadata=ca.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.getpeercert(binary_form=True) or b""


def serves(port: int, ca: bytes) -> bool:
    """A TLS handshake verified against `ca` succeeds on `port`."""
    try:
        return bool(served(port, ca))
    except (OSError, ssl.SSLError):
        return False


def secret(kubectl: Kubectl, namespace: str) -> dict[str, bytes]:
    data = get_json(kubectl, "secret", "hopper-operator-webhook-tls", "-n", namespace)["data"]
    return {key: base64.b64decode(value) for key, value in data.items()}


def test_an_expiring_certificate_is_replaced_and_kube_apiserver_keeps_calling(
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    webhook_configurations: str,
    tmp_path: Path,
) -> None:
    with serving_replica(
        control_plane, kubectl, namespace, webhook_configurations, tmp_path / "op.log",
        "--webhook-cert-validity", "30", "--webhook-cert-check-interval", "1",
    ) as (_, port):  # fmt: skip
        apply(kubectl, namespace, *TREE)
        wait_for_phases(kubectl, namespace, dict.fromkeys(("g", "p", "o"), "Running"))
        first = secret(kubectl, namespace)
        expires = x509.load_pem_x509_certificate(first["tls.crt"]).not_valid_after_utc
        wait_for(
            lambda: datetime.now(UTC) > expires + timedelta(seconds=1),
            timeout=60,
            what="the first certificate to expire",
        )
        renewed = secret(kubectl, namespace)
        assert renewed["ca.crt"] == first["ca.crt"]  # the caBundle stays as it is
        shown = x509.load_der_x509_certificate(served(port, first["ca.crt"]))
        assert shown.not_valid_after_utc > datetime.now(UTC)
        assert shown.public_bytes(Encoding.PEM) != first["tls.crt"]
        assert WRONG_RANK in refused(kubectl, namespace, "--dry-run=server")
        assert stamped(dry_run_create(kubectl, namespace, instance("x", "PROJECT", parent="g")))
