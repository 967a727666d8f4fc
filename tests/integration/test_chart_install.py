"""The chart and the release against the real API server: every value set passes a server
dry run (schemas, admission, Pod Security; the ServiceMonitor and PrometheusRule against
prometheus-operator's own CRDs); the release bundle, applied for real, gives a
ServiceAccount the operator converges the samples with; and with watchNamespaces the
operator converges in those namespaces and is refused everywhere else.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts import chart
from tests.chart.test_chart import SETS, values_args
from tests.conftest import Kubectl, kubectl_for
from tests.integration.conftest import (
    Operator,
    apply_samples,
    instances,
    service_account_kubeconfig,
    wait_for_phases,
)
from tests.integration.test_deploy_manifests import converge_stop_terminate_delete, denials

from hopper_localcluster import ControlPlane, free_ports, kubectl_path
from hopper_localcluster.crd import wait_established
from hopper_localcluster.kubelet import StandInKubelet

DRY_RUN_NAMESPACE = "hopper-chart"
MONITORING_CRDS = ("servicemonitors", "prometheusrules")
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
VERSION = "0.2.0"


def run_kubectl(
    control_plane: ControlPlane,
    *args: str,
    input: str | None = None,
    kubeconfig: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """kubectl as the admin, or with `kubeconfig`'s credentials; usable in module fixtures
    (the `kubectl` fixture is per test)."""
    env = control_plane.env() | ({"KUBECONFIG": str(kubeconfig)} if kubeconfig else {})
    return subprocess.run(
        [str(kubectl_path()), *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=180,
    )


def admin(control_plane: ControlPlane, *args: str, input: str | None = None) -> str:
    result = run_kubectl(control_plane, *args, input=input)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout + result.stderr


class OperatorAs(Operator):
    """The conftest `Operator` (`run [-n NAMESPACE] EXTRA...`) with another kubeconfig's
    credentials and extra environment."""

    def __init__(
        self,
        control_plane: ControlPlane,
        namespace: str | None,
        log: Path,
        kubeconfig: Path,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(control_plane, namespace, log, *extra)
        self._env |= {"KUBECONFIG": str(kubeconfig), **(env or {})}


LISTENERS = ("--liveness=", "--readiness-port=", "--metrics-port=", "--webhook-port=")


def operator_only(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operator's objects, without the REST API's (component api)."""
    return [
        doc
        for doc in docs
        if (doc["metadata"].get("labels") or {}).get("app.kubernetes.io/component") != "api"
    ]


def as_deployed(docs: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """The operator's arguments and environment as the rendered Deployment gives them: its
    own args (namespaces watched, leader election and its Lease, metrics auth...), the
    downward API's values as a pod would see them, and free local ports for its listeners
    (several operators run on this machine)."""
    (deployment,) = [doc for doc in operator_only(docs) if doc["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command, *args = container["args"]
    assert command == "run"
    liveness, readiness, metrics, webhook = free_ports(4)
    local = {
        "--liveness=": f"--liveness=http://127.0.0.1:{liveness}/healthz",
        "--readiness-port=": f"--readiness-port={readiness}",
        "--metrics-port=": f"--metrics-port={metrics}",
        "--webhook-port=": f"--webhook-port={webhook}",
    }
    args = [next((local[p] for p in LISTENERS if arg.startswith(p)), arg) for arg in args]
    fields = {
        "metadata.name": f"{deployment['metadata']['name']}-local",
        "metadata.namespace": deployment["metadata"]["namespace"],
    }
    env = {
        item["name"]: item["value"]
        if "value" in item
        else fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
        for item in container["env"]
    }
    return args, env


def delete_everything(control_plane: ControlPlane, docs: list[dict[str, Any]]) -> None:
    """Remove what a test applied (the CRD stays: the session's `crd` fixture owns it), and
    wait, so the next module can create the same names."""
    for doc in docs:
        if doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        scope = ["-n", doc["metadata"]["namespace"]] if "namespace" in doc["metadata"] else []
        admin(
            control_plane,
            "delete",
            doc["kind"],
            doc["metadata"]["name"],
            *scope,
            "--ignore-not-found",
        )
    for doc in docs:
        if doc["kind"] == "Namespace":
            admin(
                control_plane,
                "delete",
                "namespace",
                doc["metadata"]["name"],
                "--ignore-not-found",
                "--timeout=120s",
            )


@pytest.fixture(scope="module")
def monitoring_crds(control_plane: ControlPlane) -> Iterator[None]:
    """prometheus-operator's ServiceMonitor and PrometheusRule CRDs, from its Go module at
    the version tools/monitoring-crds pins (the real schemas, not a permissive stand-in)."""
    found = subprocess.run(
        [str(chart.ROOT / "tools" / "monitoring-crds" / "crds.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    directory = Path(found.stdout.strip().splitlines()[-1])
    names = [f"{plural}.monitoring.coreos.com" for plural in MONITORING_CRDS]
    for plural in MONITORING_CRDS:
        # Server-side: these CRDs are too large for client-side apply's annotation.
        path = directory / f"monitoring.coreos.com_{plural}.yaml"
        admin(control_plane, "apply", "--server-side", "-f", str(path))
    wait_established(control_plane.env(), *names)
    yield
    admin(control_plane, "delete", "crd", *names, "--ignore-not-found")


@pytest.mark.usefixtures("crd", "monitoring_crds")
@pytest.mark.parametrize("name", SETS)
def test_value_set_passes_a_server_dry_run(control_plane: ControlPlane, name: str) -> None:
    rendered = chart.template(
        *values_args(name), "--set", "namespace.create=true", namespace=DRY_RUN_NAMESPACE
    )
    docs = chart.documents(rendered)
    # A dry run persists nothing, not even a namespace the rest would go into: the
    # namespaces are created for real first (the release's with its Pod Security labels,
    # so a pod template breaking `restricted` draws a warning).
    namespaces = [doc for doc in docs if doc["kind"] == "Namespace"]
    others = {doc["metadata"].get("namespace") for doc in docs} - {None, DRY_RUN_NAMESPACE}
    namespaces += [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in others
    ]
    admin(control_plane, "apply", "-f", "-", input=yaml.safe_dump_all(namespaces))
    result = run_kubectl(control_plane, "apply", "--dry-run=server", "-f", "-", input=rendered)
    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(docs), result.stdout
    assert "Warning" not in result.stderr, result.stderr


# -- the release bundle, applied for real ------------------------------------------------


@pytest.fixture(scope="module")
def empty_plane() -> Iterator[ControlPlane]:
    """A control plane of its own, with nothing applied: the bundle must bring everything
    (the session's plane has the CRD from other tests)."""
    with ControlPlane() as plane:
        yield plane


@pytest.fixture(scope="module")
def bundle(
    empty_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    """`make release VERSION=0.2.0`'s bundle, applied alone, as a user would."""
    path, packaged = chart.release(VERSION, tmp_path_factory.mktemp("dist"))
    assert packaged.is_file()
    admin(empty_plane, "apply", "--server-side", "-f", str(path))
    return chart.documents(path.read_text())


def test_bundle_holds_the_operator_pinned_to_the_version(bundle: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in bundle}
    assert {
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
    } <= kinds
    (deployment,) = [doc for doc in operator_only(bundle) if doc["kind"] == "Deployment"]
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    assert operator["image"] == f"ghcr.io/hopper-dev/hopper-operator:{VERSION}"
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == f"hopper-operator-{VERSION}"


def test_bundle_alone_installs_an_operator_that_converges_the_samples(
    empty_plane: ControlPlane, bundle: list[dict[str, Any]], tmp_path: Path
) -> None:
    (account,) = [
        doc["metadata"] for doc in operator_only(bundle) if doc["kind"] == "ServiceAccount"
    ]
    kubeconfig = service_account_kubeconfig(
        empty_plane, account["namespace"], account["name"], tmp_path / "kubeconfig"
    )
    kubectl = kubectl_for(empty_plane)
    namespace = "samples"
    kubectl("create", "namespace", namespace)
    kubelet = StandInKubelet(empty_plane).start()
    # As the bundle's Deployment runs it: all namespaces, its Lease, its metrics auth.
    args, env = as_deployed(bundle)
    running = OperatorAs(empty_plane, None, tmp_path / "operator.log", kubeconfig, *args, env=env)
    running.start()
    try:
        converge_stop_terminate_delete(kubectl, namespace)
    finally:
        running.stop()
        kubelet.stop()
        print("\n".join(running.log().splitlines()[-200:]))
    denied = denials(running.log())
    assert not denied, "\n".join(denied)


def test_helm_installs_upgrades_and_uninstalls_the_packaged_chart(
    control_plane: ControlPlane, crd: None, kubectl: Kubectl, tmp_path: Path
) -> None:
    """`helm install` of `make release`'s chart, for real (the user roles are left out: they
    have cluster-wide names other tests apply too)."""
    _, packaged = chart.release(VERSION, tmp_path)
    release = ("hopper", "--namespace", "helm-test")
    env = control_plane.env()
    deployment = ("deployment", "hopper-hopper-operator", "-n", "helm-test")
    try:
        chart.helm(
            "install",
            *release,
            str(packaged),
            "--create-namespace",
            "--set",
            "rbac.userRoles=false",
            env=env,
        )
        installed = json.loads(kubectl("get", *deployment, "-o", "json").stdout)
        (operator,) = installed["spec"]["template"]["spec"]["containers"]
        assert operator["image"] == f"ghcr.io/hopper-dev/hopper-operator:{VERSION}"
        chart.helm(
            "upgrade", *release, str(packaged), "--reuse-values", "--set", "replicas=3", env=env
        )
        replicas = kubectl("get", *deployment, "-o", "jsonpath={.spec.replicas}").stdout
        assert replicas == "3"
        assert "STATUS: deployed" in chart.helm("status", *release, env=env)
    finally:
        chart.helm("uninstall", *release, "--wait", env=env)
    gone = kubectl("get", "clusterrole", "hopper-hopper-operator", check=False)
    assert "NotFound" in gone.stderr
    kubectl("delete", "namespace", "helm-test", "--wait=false")


# -- watchNamespaces: Roles in those namespaces, 403 elsewhere ---------------------------


SCOPED_RELEASE = "scoped"
SCOPED_NAMESPACE = "hopper-scoped"


@pytest.fixture
def scoped_rbac(
    control_plane: ControlPlane, crd: None, namespace: str
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """The chart's RBAC with watchNamespaces = [the test's namespace, another], for real."""
    other = f"{namespace}-b"
    admin(control_plane, "create", "namespace", other)
    rendered = chart.template(
        "--set",
        "namespace.create=true",
        "--set",
        f"watchNamespaces={{{namespace},{other}}}",
        namespace=SCOPED_NAMESPACE,
        release=SCOPED_RELEASE,
    )
    everything = chart.documents(rendered)
    docs = [doc for doc in everything if doc["kind"] in ("Namespace", *RBAC_KINDS)]
    admin(control_plane, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    try:
        yield everything, other
    finally:
        delete_everything(control_plane, docs)
        admin(control_plane, "delete", "namespace", other, "--wait=false")


def test_watched_namespaces_converge_and_others_are_forbidden(
    control_plane: ControlPlane,
    scoped_rbac: tuple[list[dict[str, Any]], str],
    kubectl: Kubectl,
    namespace: str,
    kubelet: StandInKubelet,
    tmp_path: Path,
) -> None:
    docs, other = scoped_rbac
    roles = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"}
    assert roles == {namespace, other, SCOPED_NAMESPACE}  # the release's: the Lease only
    (account,) = [doc["metadata"] for doc in operator_only(docs) if doc["kind"] == "ServiceAccount"]
    kubeconfig = service_account_kubeconfig(
        control_plane, SCOPED_NAMESPACE, account["name"], tmp_path / "kubeconfig"
    )
    # Neither a namespace it does not watch, nor all namespaces at once.
    for scope in (["-n", "default"], ["-n", "kube-system"], ["--all-namespaces"]):
        refused = run_kubectl(
            control_plane, "get", "hopperinstances", *scope, kubeconfig=kubeconfig
        )
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, (scope, refused)
        refused = run_kubectl(control_plane, "get", "configmaps", *scope, kubeconfig=kubeconfig)
        assert "Forbidden" in refused.stderr, (scope, refused)
    # Its own namespaces: what it needs (and still no `get`).
    for watched in (namespace, other):
        allowed = run_kubectl(
            control_plane,
            "auth",
            "can-i",
            "patch",
            "hopperinstances.hopper.dev",
            "-n",
            watched,
            kubeconfig=kubeconfig,
        )
        assert allowed.stdout.strip() == "yes", allowed

    # Samples in a namespace it does not watch, there before the operator starts: by the
    # time the watched ones are Running, an operator watching everything would have
    # touched these too.
    unwatched = f"{namespace}-c"
    kubectl("create", "namespace", unwatched)
    apply_samples(kubectl, unwatched)
    # As the rendered Deployment runs it: both namespaces, its Lease in the release's.
    args, env = as_deployed(docs)
    running = OperatorAs(control_plane, None, tmp_path / "operator.log", kubeconfig, *args, env=env)
    running.start()
    try:
        apply_samples(kubectl, namespace)
        apply_samples(kubectl, other)
        wait_for_phases(kubectl, namespace, "Running", timeout=120)
        wait_for_phases(kubectl, other, "Running", timeout=120)
        untouched = instances(kubectl, unwatched).values()
        assert len(untouched) == 6
        assert all(
            not item.get("status") and not item["metadata"].get("finalizers") for item in untouched
        )
    finally:
        running.stop()
        print("\n".join(running.log().splitlines()[-200:]))
        kubectl("delete", "namespace", unwatched, "--wait=false")
    denied = denials(running.log())
    assert not denied, "\n".join(denied)
