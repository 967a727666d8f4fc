"""The Helm chart: it lints, renders each value set as asked, and is the one source of
manifests/ and of docs/install.md's values table. (That the API server accepts every
rendering is tests/integration/test_chart_install.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts import chart

VALUE_SETS = Path(__file__).parent / "values"
# The default values, and the non-default sets in tests/chart/values/.
SETS = ["default", *sorted(path.stem for path in VALUE_SETS.glob("*.yaml"))]


def values_args(name: str) -> tuple[str, ...]:
    return () if name == "default" else ("-f", str(VALUE_SETS / f"{name}.yaml"))


def render(name: str, *extra: str) -> list[dict[str, Any]]:
    return chart.documents(chart.template(*values_args(name), *extra))


def is_api(doc: dict[str, Any]) -> bool:
    """One of the REST API's objects (its own Deployment, Service, roles...)."""
    labels = doc["metadata"].get("labels") or {}
    return bool(labels.get("app.kubernetes.io/component") == "api")


def operator_kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {doc["kind"] for doc in docs if not is_api(doc)}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one `kind` named `name`; without a name, the operator's (not the API's)."""
    (found,) = [
        doc
        for doc in docs
        if doc["kind"] == kind and (doc["metadata"]["name"] == name if name else not is_api(doc))
    ]
    return found


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (operator,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return operator


def grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("name", SETS)
def test_helm_lint(name: str) -> None:
    output = chart.helm("lint", "--strict", str(chart.CHART), *values_args(name))
    assert "0 chart(s) failed" in output, output


def test_default_values() -> None:
    docs = render("default")
    kinds = sorted(doc["kind"] for doc in docs)
    assert "ServiceMonitor" not in kinds and "Namespace" not in kinds
    # Two Roles, both in the release namespace: the Lease's and the webhook certificate's.
    lease = one(docs, "Role", "hopper-operator-leader-election")
    assert grants(lease) == {
        ("coordination.k8s.io", "leases", verb) for verb in ("create", "get", "patch")
    }
    assert [rule.get("resourceNames") for rule in lease["rules"]] == [None, ["hopper-operator"]]
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    operator = container(docs)
    assert {"--leader-elect", "--leader-election-id=hopper-operator"} <= set(operator["args"])
    version = yaml.safe_load((chart.CHART / "Chart.yaml").read_text())["appVersion"]
    assert operator["image"] == f"ghcr.io/hopper-dev/hopper-operator:{version}"
    assert "--metrics-port=9090" in operator["args"]
    assert not [arg for arg in operator["args"] if arg.startswith("--namespace")]
    # The CRD Helm installs is the generated one.
    crd = one(docs, "CustomResourceDefinition")
    assert crd == yaml.safe_load(chart.CRD.read_text())


# What the operator reads or asks cluster-wide, whichever namespaces it watches.
CLUSTER_WIDE = {"customresourcedefinitions", "namespaces", "tokenreviews", "subjectaccessreviews"}


def test_namespaced_values_use_roles_in_each_namespace() -> None:
    docs = render("namespaced")
    everywhere = grants(one(render("default"), "ClusterRole", "hopper-operator"))
    namespaced = {grant for grant in everywhere if grant[1] not in CLUSTER_WIDE}
    # The ClusterRole keeps only what is not in a namespace: CRDs and namespace names (no
    # metrics endpoint in this set, so no reviews either).
    cluster_role = grants(one(docs, "ClusterRole", "hopper-operator"))
    assert {resource for _, resource, _ in cluster_role} == {
        "customresourcedefinitions",
        "namespaces",
    }
    watched = "hopper-system"  # the release's namespace holds only the Lease's Role
    roles = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] != watched]
    bindings = [
        d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] != watched
    ]
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for role in roles:
        assert grants(role) == namespaced
    operator = container(docs)
    assert {"--namespace=team-a", "--namespace=team-b", "--verbose"} <= set(operator["args"])
    assert "--log-format=plain" in operator["args"]
    assert "--metrics-port=0" in operator["args"]
    services = [d["metadata"]["name"] for d in docs if d["kind"] == "Service" and not is_api(d)]
    assert services == ["hopper-operator-webhook"]  # no metrics Service
    # The webhooks judge only the watched namespaces.
    (hook,) = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    (expression,) = hook["namespaceSelector"]["matchExpressions"]
    assert expression["values"] == ["team-a", "team-b"]


def test_webhooks_by_default_every_replica_serves_with_a_shared_certificate() -> None:
    docs = render("default")
    validating = one(docs, "ValidatingWebhookConfiguration", "hopper-operator")
    mutating = one(docs, "MutatingWebhookConfiguration", "hopper-operator")
    for configuration, path, operations in (
        (validating, "/parent-rank", ["CREATE", "UPDATE"]),
        (mutating, "/tree-metadata", ["CREATE"]),
    ):
        (hook,) = configuration["webhooks"]
        # Never in anyone's way: an outage lets every apply through, quickly.
        assert (hook["failurePolicy"], hook["matchPolicy"], hook["sideEffects"]) == (
            "Ignore",
            "Equivalent",
            "None",
        )
        assert hook["timeoutSeconds"] <= 5
        (rule,) = hook["rules"]
        assert (rule["apiGroups"], rule["resources"]) == (["hopper.dev"], ["hopperinstances"])
        assert rule["operations"] == operations
        assert hook["clientConfig"]["service"] == {
            "name": "hopper-operator-webhook",
            "namespace": "hopper-system",
            "path": path,
            "port": 443,
        }
        assert "caBundle" not in hook["clientConfig"]  # the operator's to fill
    service = one(docs, "Service", "hopper-operator-webhook")
    (port,) = service["spec"]["ports"]
    operator = container(docs)
    ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    assert (port["port"], ports[port["targetPort"]]) == (443, 9443)
    assert {
        "--webhook-port=9443",
        "--webhook-secret=hopper-operator-webhook-tls",
        "--webhook-configuration=hopper-operator",
        "--webhook-host=hopper-operator-webhook.hopper-system.svc",
    } <= set(operator["args"])
    secrets = one(docs, "Role", "hopper-operator-webhook")
    assert grants(secrets) == {("", "secrets", v) for v in ("create", "get", "update")}
    assert [r.get("resourceNames") for r in secrets["rules"]] == [
        None,
        ["hopper-operator-webhook-tls"],
    ]
    bundles = one(docs, "ClusterRole", "hopper-operator-webhook")
    (rule,) = bundles["rules"]
    assert (rule["resourceNames"], rule["verbs"]) == (["hopper-operator"], ["get", "update"])


def test_cert_manager_issues_and_injects_and_the_operator_only_reads() -> None:
    docs = render("default", "--set", "webhooks.certManager.enabled=true")
    certificate = one(docs, "Certificate", "hopper-operator-webhook")
    assert certificate["spec"]["secretName"] == "hopper-operator-webhook-tls"
    assert "hopper-operator-webhook.hopper-system.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"] == {
        "name": "hopper-operator-webhook-ca",
        "kind": "Issuer",
    }
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        annotations = one(docs, kind)["metadata"]["annotations"]
        assert (
            annotations["cert-manager.io/inject-ca-from"] == "hopper-system/hopper-operator-webhook"
        )
    assert "--no-webhook-manage-certificate" in container(docs)["args"]
    assert grants(one(docs, "Role", "hopper-operator-webhook")) == {("", "secrets", "get")}
    assert not [
        d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-webhook")
    ]
    given = render(
        "default",
        "--set", "webhooks.certManager.enabled=true",
        "--set", "webhooks.certManager.issuerRef.name=corp-ca",
        "--set", "webhooks.certManager.issuerRef.kind=ClusterIssuer",
    )  # fmt: skip
    assert one(given, "Certificate")["spec"]["issuerRef"] == {
        "name": "corp-ca",
        "kind": "ClusterIssuer",
    }
    assert "Issuer" not in {doc["kind"] for doc in given}


def test_production_values_reach_the_pod() -> None:
    docs = render("production")
    values = yaml.safe_load((VALUE_SETS / "production.yaml").read_text())
    deployment = one(docs, "Deployment", "hopper")
    pod = deployment["spec"]["template"]["spec"]
    operator = container(docs)
    image = values["image"]
    assert operator["image"] == f"{image['repository']}:{image['tag']}@{image['digest']}"
    assert operator["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "mirror-credentials"}]
    assert deployment["spec"]["replicas"] == 3
    assert "--workers=32" in operator["args"]
    assert operator["resources"] == values["resources"]
    assert {"name": "TZ", "value": "UTC"} in operator["env"]
    for key in ("nodeSelector", "tolerations", "priorityClassName"):
        assert pod[key] == values[key], key
    assert pod["affinity"]["nodeAffinity"] == values["affinity"]["nodeAffinity"]
    (spread,) = pod["topologySpreadConstraints"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert spread["labelSelector"] == {"matchLabels": selector}  # filled in by the chart
    assert pod["serviceAccountName"] == "hopper"
    assert one(docs, "ServiceAccount", "hopper")["metadata"]["annotations"] == {
        **values["commonAnnotations"],
        **values["serviceAccount"]["annotations"],
    }
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    template = deployment["spec"]["template"]["metadata"]
    assert template["labels"]["example.internal/cost-center"] == "42"
    assert template["annotations"] == values["podAnnotations"]
    for doc in docs:
        if doc["kind"] != "CustomResourceDefinition":  # Helm installs crds/ untemplated
            assert doc["metadata"]["labels"]["team"] == "platform", doc["kind"]
            assert doc["metadata"]["annotations"]["example.internal/owner"] == "platform-team"


def test_monitoring_values_render_what_prometheus_needs() -> None:
    docs = render("monitoring")
    service = one(docs, "Service", "hopper-operator-metrics")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["interval"] == "15s"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8443
    ports = {p["name"]: p["containerPort"] for p in container(docs)["ports"]}
    assert ports[port["targetPort"]] == 9464
    assert "--metrics-port=9464" in container(docs)["args"]
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all(alert["labels"]["team"] == "platform" for alert in alerts)
    errors = next(a for a in alerts if a["alert"] == "HopperReconcileErrors")
    assert errors["expr"].rstrip().endswith("> 0.05")
    dashboard = one(docs, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Operators"}
    shipped = json.loads((chart.CHART / "dashboards" / "hopper-operator.json").read_text())
    assert json.loads(dashboard["data"]["hopper-operator.json"]) == shipped


def test_every_value_is_documented() -> None:
    """The values table is made from `# --` comments: a value without one is missing."""
    text = chart.VALUES.read_text()
    documented = {key for key, _ in chart.documented_values(text)}

    def leaves(tree: dict[str, Any], prefix: str = "") -> set[str]:
        keys = set()
        for key, value in tree.items():
            path = prefix + key
            if path in documented:
                keys.add(path)
            elif isinstance(value, dict) and value:
                keys |= leaves(value, path + ".")
            else:
                keys.add(path)
        return keys

    assert leaves(yaml.safe_load(text)) <= documented


def test_values_table_is_generated_from_values() -> None:
    page = chart.VALUES_PAGE.read_text()
    table = chart.values_table(chart.VALUES.read_text())
    assert chart.with_values_table(page, table) == page, "run `make manifests`"


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replicaz=2", "additional properties 'replicaz' not allowed"),
        ("log.level=trace", "value must be one of 'info', 'debug'"),
        ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
        ("image.digest=latest", "/image/digest"),
    ],
)
def test_values_schema_refuses_mistakes(setting: str, complaint: str) -> None:
    with pytest.raises(RuntimeError, match="schema") as refused:
        chart.template("--set", setting)
    assert complaint in str(refused.value)


def test_single_replica_without_leader_election() -> None:
    docs = render(
        "default",
        *("--set", "leaderElection.enabled=false", "--set", "replicas=1"),
        *("--set", "podAntiAffinity=none"),
    )
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--no-leader-elect" in container(docs)["args"]
    assert "affinity" not in deployment["spec"]["template"]["spec"]
    kinds = operator_kinds(docs)
    assert not [d for d in docs if d["metadata"]["name"].endswith("-leader-election")]
    assert "PodDisruptionBudget" not in kinds  # minAvailable 1 of 1 would block every drain


def test_hard_anti_affinity() -> None:
    pod = one(render("default", "--set", "podAntiAffinity=hard"), "Deployment")["spec"]
    (term,) = pod["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["labelSelector"]["matchLabels"] == pod["selector"]["matchLabels"]


def test_manifests_are_rendered_from_the_chart() -> None:
    """manifests/*.yaml (what `kubectl apply -k manifests/` installs) is the chart rendered
    with its defaults, nothing else: one source, and this fails the moment they drift."""
    expected = chart.rendered_manifests()
    actual = {path.name: path.read_text() for path in chart.MANIFESTS.glob("*.yaml")}
    assert sorted(actual) == sorted(expected), "run `make manifests`"
    for name, text in expected.items():
        assert actual[name] == text, f"manifests/{name} is not the chart's: run `make manifests`"
