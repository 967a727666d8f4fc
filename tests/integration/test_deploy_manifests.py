"""The deploy manifests: `kubectl apply -k manifests/` is valid against the real API server,
the operator's ServiceAccount may do exactly what the operator does and nothing broader,
and the real operator, running with nothing but that ServiceAccount's token, converges.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import (
    CRD,
    ROOT,
    Operator,
    apply_samples,
    instances,
    service_account_kubeconfig,
    set_state,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.kubelet import StandInKubelet

MANIFESTS = ROOT / "manifests"
OPERATOR_NAMESPACE = "hopper-system"
SERVICE_ACCOUNT = "hopper-operator"
API = "hopper-operator-api"  # the REST Instance API's objects (tests/chart/test_api_chart.py)
USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{SERVICE_ACCOUNT}"
RBAC_KINDS = (
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
)
LEASE = "hopper-operator"

# Everything the ClusterRole grants, as (API group, resource[/subresource], verb): exactly
# the operator's own requests plus Kopf's (see manifests/rbac.yaml for why each is there).
GRANTED: list[tuple[str, str, str]] = [
    ("hopper.dev", "hopperinstances", "list"),
    ("hopper.dev", "hopperinstances", "watch"),
    ("hopper.dev", "hopperinstances", "patch"),
    ("hopper.dev", "hopperinstances", "delete"),
    ("hopper.dev", "hopperinstances/status", "patch"),
    ("hopper.dev", "hopperinstances/finalizers", "update"),
    ("", "configmaps", "list"),
    ("", "configmaps", "watch"),
    ("", "configmaps", "create"),
    ("", "configmaps", "patch"),
    ("", "configmaps", "delete"),
    ("apps", "deployments", "list"),
    ("apps", "deployments", "watch"),
    ("apps", "deployments", "create"),
    ("apps", "deployments", "patch"),
    ("apps", "deployments", "delete"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "events", "create"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    ("authentication.k8s.io", "tokenreviews", "create"),
    ("authorization.k8s.io", "subjectaccessreviews", "create"),
]

# Broader things the operator never does, so its ServiceAccount must not be able to:
# (API group, resource[/subresource], verb, namespace; "" = all namespaces / cluster scope).
REFUSED: list[tuple[str, str, str, str]] = [
    # No Secrets at all.
    ("", "secrets", "get", "kube-system"),
    ("", "secrets", "list", ""),
    ("", "secrets", "watch", ""),
    ("", "secrets", "create", "default"),
    # Its own resource: read through watches only, never created, PUT or bulk-deleted.
    ("hopper.dev", "hopperinstances", "get", ""),
    ("hopper.dev", "hopperinstances", "create", "default"),
    ("hopper.dev", "hopperinstances", "update", "default"),
    ("hopper.dev", "hopperinstances", "deletecollection", "default"),
    ("hopper.dev", "hopperinstances/status", "update", "default"),
    ("hopper.dev", "hopperinstances/finalizers", "patch", "default"),
    # Owned objects: server-side apply and delete, nothing else.
    ("", "configmaps", "update", "default"),
    ("", "configmaps", "deletecollection", "default"),
    ("apps", "deployments", "update", "default"),
    ("apps", "deployments", "deletecollection", "default"),
    ("apps", "deployments/scale", "update", "default"),
    ("apps", "replicasets", "list", ""),
    # Pods are only watched.
    ("", "pods", "get", "default"),
    ("", "pods", "create", "default"),
    ("", "pods", "delete", "default"),
    ("", "pods", "patch", "default"),
    ("", "pods/exec", "create", "default"),
    ("", "pods/log", "get", "default"),
    ("", "events", "list", ""),
    ("", "events", "patch", "default"),
    ("", "events", "delete", "default"),
    # Nothing cluster-shaping.
    ("", "nodes", "patch", ""),
    ("", "nodes", "list", ""),
    ("", "namespaces", "create", ""),
    ("", "namespaces", "delete", ""),
    ("", "serviceaccounts/token", "create", OPERATOR_NAMESPACE),
    ("apiextensions.k8s.io", "customresourcedefinitions", "create", ""),
    ("apiextensions.k8s.io", "customresourcedefinitions", "update", ""),
    ("apiextensions.k8s.io", "customresourcedefinitions", "delete", ""),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "create", ""),
    # Leases: only its own, only in its own namespace (see test_lease_grants).
    ("coordination.k8s.io", "leases", "create", "default"),
    ("coordination.k8s.io", "leases", "get", "kube-system"),
    ("coordination.k8s.io", "leases", "list", OPERATOR_NAMESPACE),
    ("coordination.k8s.io", "leases", "watch", OPERATOR_NAMESPACE),
    ("coordination.k8s.io", "leases", "update", OPERATOR_NAMESPACE),
    ("coordination.k8s.io", "leases", "delete", OPERATOR_NAMESPACE),
    # Kopf peering is gone (Kopf runs standalone in every replica; the Lease elects).
    ("kopf.dev", "clusterkopfpeerings", "patch", ""),
    ("kopf.dev", "kopfpeerings", "list", ""),
    # No way to grant itself more.
    ("rbac.authorization.k8s.io", "clusterroles", "update", ""),
    ("rbac.authorization.k8s.io", "clusterroles", "escalate", ""),
    ("rbac.authorization.k8s.io", "clusterroles", "bind", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", "create", ""),
    ("rbac.authorization.k8s.io", "rolebindings", "create", "default"),
    ("", "users", "impersonate", ""),
    ("", "serviceaccounts", "impersonate", ""),
    ("*", "*", "*", ""),
]

# A timestamp's milliseconds (",403") must not read as an HTTP status.
TIMESTAMP = re.compile(r"\d{2}:\d{2}:\d{2}[,.]\d+")
DENIED = re.compile(r"\b403\b|forbidden|not enough permissions", re.IGNORECASE)


def _kubectl(control_plane: ControlPlane, *args: str, input: str | None = None) -> str:
    """kubectl as the admin, for module-scoped fixtures (the `kubectl` fixture is per test)."""
    result = subprocess.run(
        [str(kubectl_path()), *args],
        input=input,
        capture_output=True,
        text=True,
        env=control_plane.env(),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def rendered(control_plane: ControlPlane) -> list[dict[str, Any]]:
    """What `kubectl apply -k manifests/` would send, rendered by the real kubectl."""
    return [
        doc
        for doc in yaml.safe_load_all(_kubectl(control_plane, "kustomize", str(MANIFESTS)))
        if doc
    ]


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [
        doc for doc in docs if doc["kind"] == kind and name in (None, doc["metadata"]["name"])
    ]
    return found


@pytest.fixture(scope="module", autouse=True)
def _remove_operator_objects(control_plane: ControlPlane) -> Iterator[None]:
    """The cluster-scoped RBAC and hopper-system go with this module: later tests share the
    control plane. The CRD stays (the session's `crd` fixture owns it)."""
    yield
    for kind in ("clusterrolebinding", "clusterrole"):
        subprocess.run(
            [str(kubectl_path()), "delete", kind, SERVICE_ACCOUNT, API, "--ignore-not-found"],
            env=control_plane.env(),
            capture_output=True,
            check=False,
        )
    subprocess.run(
        [str(kubectl_path()), "delete", "namespace", OPERATOR_NAMESPACE, "--wait=false"],
        env=control_plane.env(),
        capture_output=True,
        check=False,
    )


# -- (a) the kustomization -----------------------------------------------------------------


def test_kustomization_holds_the_operator_and_nothing_else(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered)
    assert kinds == [
        ("ClusterRole", "hopper-instances-admin"),
        ("ClusterRole", "hopper-instances-edit"),
        ("ClusterRole", "hopper-instances-view"),
        ("ClusterRole", "hopper-operator"),
        ("ClusterRole", API),
        ("ClusterRole", "hopper-operator-metrics-reader"),
        ("ClusterRole", "hopper-operator-webhook"),
        ("ClusterRoleBinding", "hopper-operator"),
        ("ClusterRoleBinding", API),
        ("ClusterRoleBinding", "hopper-operator-webhook"),
        ("CustomResourceDefinition", "hopperinstances.hopper.dev"),
        ("Deployment", "hopper-operator"),
        ("Deployment", API),
        ("MutatingWebhookConfiguration", "hopper-operator"),
        ("Namespace", OPERATOR_NAMESPACE),
        ("PodDisruptionBudget", "hopper-operator"),
        ("PodDisruptionBudget", API),
        ("Role", "hopper-operator-leader-election"),
        ("Role", "hopper-operator-webhook"),
        ("RoleBinding", "hopper-operator-leader-election"),
        ("RoleBinding", "hopper-operator-webhook"),
        ("Service", API),
        ("Service", "hopper-operator-metrics"),
        ("Service", "hopper-operator-webhook"),
        ("ServiceAccount", SERVICE_ACCOUNT),
        ("ServiceAccount", API),
        ("ValidatingWebhookConfiguration", "hopper-operator"),
    ]  # in particular no HopperInstance: the samples stay out
    cluster_scoped = (
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    )
    for doc in rendered:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] == OPERATOR_NAMESPACE, doc["kind"]
    # The CRD is the generated one, not a copy that could drift.
    crd = _one(rendered, "CustomResourceDefinition")
    assert crd["spec"] == yaml.safe_load(CRD.read_text())["spec"]

    deployment = _one(rendered, "Deployment", SERVICE_ACCOUNT)
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (2, "RollingUpdate")
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    )
    pdb = _one(rendered, "PodDisruptionBudget", SERVICE_ACCOUNT)
    assert pdb["spec"] == {"minAvailable": 1, "selector": spec["selector"]}
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/hopper-dev/hopper-operator:0.1.0"
    assert container["args"] == [
        "run",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--readiness-port=8081",
        "--leader-elect",
        f"--leader-election-id={LEASE}",
        "--metrics-port=9090",
        "--metrics-auth=kubernetes",
        "--webhook-port=9443",
        "--webhook-secret=hopper-operator-webhook-tls",
        "--webhook-configuration=hopper-operator",
        "--webhook-host=hopper-operator-webhook.hopper-system.svc",
        "--webhook-host=hopper-operator-webhook.hopper-system.svc.cluster.local",
        "--webhook-host=hopper-operator-webhook.hopper-system",
        "--webhook-host=hopper-operator-webhook",
        "--webhook-cert-validity=31536000",
        "--workers=16",
        "--log-format=json",
    ]
    downward = {
        env["name"]: env["valueFrom"]["fieldRef"]["fieldPath"]
        for env in container["env"]
        if "valueFrom" in env
    }
    assert downward == {
        "POD_NAME": "metadata.name",  # Kopf's identity, and the leader's (plus a suffix)
        "POD_NAMESPACE": "metadata.namespace",  # the Lease's namespace
    }
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 65532
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    probe = container["livenessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert probe["path"] == "/healthz" and ports[probe["port"]] == 8080
    ready = container["readinessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and ports[ready["port"]] == 8081

    service = _one(rendered, "Service", "hopper-operator-metrics")
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], ports[port["targetPort"]]) == ("metrics", 9090, 9090)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_kustomization_passes_a_server_dry_run(kubectl: Kubectl) -> None:
    # A server-side dry run sends every object through the real API server (schema,
    # defaulting, admission, Pod Security) without persisting anything, so it cannot
    # create the namespace either, and every namespaced object is then refused with
    # `namespaces "hopper-system" not found`. So the namespace is applied for real first;
    # the whole kustomization, namespace and CRD included, is then dry-run. (The CRD need
    # not exist: the kustomization holds no custom resource.)
    kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"))
    result = kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server")
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == 27, result.stdout
    # hopper-system has the Pod Security "restricted" warn label: a pod template that broke
    # the standard would print `Warning: would violate PodSecurity "restricted:latest"`.
    assert "Warning" not in result.stderr, result.stderr


# -- (b) least privilege -------------------------------------------------------------------


def test_cluster_role_grants_exactly_the_table(rendered: list[dict[str, Any]]) -> None:
    """No wildcard, and no rule the can-i table below does not prove is needed."""
    grants = set()
    for rule in _one(rendered, "ClusterRole", SERVICE_ACCOUNT)["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no URLs, no names
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), rule
                    grants.add((group, resource, verb))
    assert sorted(grants) == sorted(GRANTED)
    binding = _one(rendered, "ClusterRoleBinding", SERVICE_ACCOUNT)
    assert (
        binding["roleRef"]["name"]
        == _one(rendered, "ClusterRole", SERVICE_ACCOUNT)["metadata"]["name"]
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
    ]


@pytest.fixture(scope="module")
def operator_rbac(control_plane: ControlPlane, crd: None, rendered: list[dict[str, Any]]) -> None:
    """The namespace, ServiceAccount, ClusterRole and binding, applied for real."""
    docs = [doc for doc in rendered if doc["kind"] in RBAC_KINDS]
    _kubectl(control_plane, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
    # The RBAC authorizer learns of new bindings through a watch: wait until it has.
    wait_for(
        lambda: _can_i(control_plane, "", "configmaps", "create", "default"),
        timeout=30,
        what="the ClusterRoleBinding to take effect",
    )


def _can_i(
    control_plane: ControlPlane, group: str, resource: str, verb: str, namespace: str
) -> bool:
    name, _, subresource = resource.partition("/")
    kind = f"{name}.{group}" if group not in ("", "*") else name
    args = ["auth", "can-i", verb, kind, f"--as={USER}"]
    args += [f"--subresource={subresource}"] if subresource else []
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = subprocess.run(
        [str(kubectl_path()), *args],
        capture_output=True,
        text=True,
        env=control_plane.env(),
        check=False,
        timeout=30,
    )
    answer = result.stdout.strip()
    # Exit 0 and "yes", or exit 1 and "no"; anything else is an error, not an answer.
    assert (result.returncode, answer) in ((0, "yes"), (1, "no")), result
    return answer == "yes"


@pytest.mark.usefixtures("operator_rbac")
@pytest.mark.parametrize(("group", "resource", "verb"), GRANTED)
def test_service_account_can(
    control_plane: ControlPlane, group: str, resource: str, verb: str
) -> None:
    # In every namespace at once (the operator watches them all when deployed), which
    # implies each single one.
    assert _can_i(control_plane, group, resource, verb, namespace="")


@pytest.mark.usefixtures("operator_rbac")
def test_lease_grants(control_plane: ControlPlane) -> None:
    """Its own Lease in its own namespace: get, create, patch; no other Lease by name."""

    def can(verb: str, what: str) -> bool:
        result = subprocess.run(
            [
                str(kubectl_path()),
                "auth",
                "can-i",
                verb,
                what,
                f"--as={USER}",
                "-n",
                "hopper-system",
            ],
            capture_output=True,
            text=True,
            env=control_plane.env(),
            check=False,
            timeout=30,
        )
        assert result.stdout.strip() in ("yes", "no"), result
        return result.stdout.strip() == "yes"

    own = f"leases.coordination.k8s.io/{LEASE}"
    assert can("get", own) and can("patch", own) and can("create", "leases.coordination.k8s.io")
    assert not can("get", "leases.coordination.k8s.io/someone-else")
    assert not can("patch", "leases.coordination.k8s.io/someone-else")
    assert not can("update", own) and not can("delete", own)


@pytest.mark.usefixtures("operator_rbac")
@pytest.mark.parametrize(("group", "resource", "verb", "namespace"), REFUSED)
def test_service_account_cannot(
    control_plane: ControlPlane, group: str, resource: str, verb: str, namespace: str
) -> None:
    assert not _can_i(control_plane, group, resource, verb, namespace)


# -- (c) the operator itself, as its ServiceAccount ----------------------------------------


class OperatorAs(Operator):
    """The conftest `Operator` with the credentials of another kubeconfig."""

    def __init__(
        self, control_plane: ControlPlane, namespace: str, log: Path, kubeconfig: Path
    ) -> None:
        super().__init__(control_plane, namespace, log)
        self._env["KUBECONFIG"] = str(kubeconfig)
        # As the Deployment's downward API says: the Lease lives in the operator's namespace.
        self._env["POD_NAMESPACE"] = OPERATOR_NAMESPACE


def denials(log: str) -> list[str]:
    return [line for line in log.splitlines() if DENIED.search(TIMESTAMP.sub("", line))]


@pytest.fixture
def operator_as_service_account(
    operator_rbac: None,
    kubectl: Kubectl,
    control_plane: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorAs]:
    kubeconfig = service_account_kubeconfig(
        control_plane, OPERATOR_NAMESPACE, SERVICE_ACCOUNT, tmp_path / "kubeconfig"
    )
    whoami = subprocess.run(
        [str(kubectl_path()), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"],
        env={**control_plane.env(), "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert whoami.stdout == USER  # the operator below authenticates as nobody else
    running = OperatorAs(control_plane, namespace, tmp_path / "operator.log", kubeconfig)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        print("\n".join(running.log().splitlines()[-200:]))


def converge_stop_terminate_delete(kubectl: Kubectl, namespace: str) -> None:
    # Create: every instance converges (finalizers, labels, ownerReferences, ConfigMaps by
    # server-side apply, a Deployment, status, Events).
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=120)

    # Stop: the workload is deleted.
    set_state(kubectl, namespace, "acme-web-release", "Stopped")
    wait_for_phases(kubectl, namespace, {"acme-web-release": "Stopped"}, timeout=60)
    gone = kubectl("get", "deployment", "acme-web-release", "-n", namespace, check=False)
    assert "NotFound" in gone.stderr

    # Terminate an Ephemeral instance: its ConfigMap goes, then the operator deletes it.
    set_state(kubectl, namespace, "acme-data-etl", "Terminated")
    wait_for(
        lambda: "acme-data-etl" not in instances(kubectl, namespace),
        timeout=60,
        what="the Ephemeral instance to be deleted",
    )

    # Delete the root: the subtree goes through the garbage collector, each instance held
    # by the operator's finalizer until it has walked down to Stopped.
    kubectl("delete", "hopperinstance", "acme", "-n", namespace, "--wait=false")
    wait_for(
        lambda: not instances(kubectl, namespace),
        timeout=90,
        what="the whole tree to be deleted",
    )


def test_operator_runs_as_its_service_account(
    kubectl: Kubectl,
    namespace: str,
    operator_as_service_account: OperatorAs,
    kubelet: StandInKubelet,
) -> None:
    try:
        lease = wait_for(
            lambda: kubectl("get", "lease", LEASE, "-n", OPERATOR_NAMESPACE, check=False).stdout,
            what="the operator to create its Lease",
        )
        assert lease
        holder = kubectl(
            "get", "lease", LEASE, "-n", OPERATOR_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}"
        ).stdout
        assert holder, "the operator acquired no Lease"
        converge_stop_terminate_delete(kubectl, namespace)
    finally:
        operator_as_service_account.stop()
        denied = denials(operator_as_service_account.log())
        # Also when a wait above timed out: a 403 explains it better than the timeout.
        assert not denied, "\n".join(denied)
