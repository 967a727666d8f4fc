"""The chart's REST Instance API: its own Deployment, ServiceAccount, least-privilege
ClusterRole, Service, PodDisruptionBudget and optional ServiceMonitor."""

from __future__ import annotations

from tests.chart.test_chart import grants, is_api, one, render

NAME = "hopper-operator-api"


def test_the_api_has_its_own_restricted_deployment_and_narrow_role() -> None:
    docs = render("default")
    deployment = one(docs, "Deployment", NAME)
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == NAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    (api,) = pod["containers"]
    assert api["args"][:2] == ["api", "--port=8443"]
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert api["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/component"] == "api"
    # The operator's Deployment selects none of the API's pods, and the reverse.
    operator = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert operator["app.kubernetes.io/component"] == "controller"

    assert grants(one(docs, "ClusterRole", NAME)) == {
        *(("hopper.dev", "hopperinstances", verb) for verb in
          ("get", "list", "watch", "create", "update", "patch", "delete")),
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }  # fmt: skip
    (subject,) = one(docs, "ClusterRoleBinding", NAME)["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": NAME, "namespace": "hopper-system"}
    service = one(docs, "Service", NAME)
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == selector
    assert one(docs, "PodDisruptionBudget", NAME)["spec"]["minAvailable"] == 1


def test_the_api_values_reach_the_pod() -> None:
    docs = render(
        "default",
        *("--set", "api.namespace=team-a", "--set", "api.certSecret=api-tls"),
        *("--set", "api.serviceMonitor.enabled=true", "--set", "api.replicas=1"),
        *("--set", "api.stream.heartbeatSeconds=5", "--set", "api.stream.maxStreams=50"),
    )
    pod = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert {"--namespace=team-a", "--cert-dir=/etc/hopper-operator/api-certs"} <= set(args)
    assert {"--stream-heartbeat=5", "--max-streams=50", "--stream-buffer=1024"} <= set(args)
    assert {"name": "api-certs", "secret": {"secretName": "api-tls"}} in pod["volumes"]
    monitor = one(docs, "ServiceMonitor", NAME)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["scheme"]) == ("https", "https")
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget" and is_api(d)]


def test_the_api_can_be_left_out() -> None:
    assert not [doc for doc in render("default", "--set", "api.enabled=false") if is_api(doc)]


def test_mcp_is_served_by_the_api_pods_as_the_values_say() -> None:
    def args(*values: str) -> list[str]:
        docs = render("default", *(flag for value in values for flag in ("--set", value)))
        pod = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]
        found: list[str] = pod["containers"][0]["args"]
        return found

    assert "--mcp-max-subscriptions=100" in args()  # on by default, writing
    assert "--mcp-read-only" not in args() and "--no-mcp" not in args()
    read_only = args("mcp.readOnly=true", "mcp.maxSubscriptions=7")
    assert {"--mcp-read-only", "--mcp-max-subscriptions=7"} <= set(read_only)
    assert "--no-mcp" in args("mcp.enabled=false")
