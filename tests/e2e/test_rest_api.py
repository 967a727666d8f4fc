"""The chart's REST Instance API as users reach it: its Deployment from `kubectl apply -k
manifests/`, through its Service, with a ServiceAccount token bound to `edit`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Kubectl
from tests.e2e.conftest import Cluster, get_json, wait_for

ROOT = Path(__file__).parents[2]
OPERATOR_NAMESPACE = "hopper-system"
API = "hopper-operator-api"
CLIENTS = "hopper-e2e-rest"
TIMEOUT = 120


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[Kubectl]:
    kubectl = cluster.kubectl
    kubectl("apply", "-k", str(ROOT / "manifests"))
    kubectl("create", "namespace", CLIENTS)
    try:
        kubectl(
            "wait", "-n", OPERATOR_NAMESPACE, "--for=condition=Available",
            "deployment/hopper-operator", f"deployment/{API}", f"--timeout={TIMEOUT}s",
        )  # fmt: skip
        yield kubectl
    finally:
        for args in (
            ("get", "all,hopperinstances", "-A", "-o", "wide"),
            ("logs", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/component=api",
             "--tail=100", "--prefix"),
        ):  # fmt: skip
            print(kubectl(*args, check=False).stdout)
        kubectl("delete", "hopperinstances", "--all", "-n", CLIENTS, f"--timeout={TIMEOUT}s",
                check=False)  # fmt: skip
        kubectl("delete", "-k", str(ROOT / "manifests"), f"--timeout={TIMEOUT}s", check=False)
        kubectl("delete", "namespace", CLIENTS, "--wait=false", check=False)


def answers(client: httpx.Client, url: str) -> bool:
    """The Service answers with 200. Until kube-proxy has programmed the new Service's rules
    (its endpoints are ready before that), a connection to its IP is refused: not yet."""
    try:
        return client.get(url).status_code == 200
    except httpx.ConnectError:
        return False


def test_the_api_creates_and_starts_an_instance_through_its_service(installed: Kubectl) -> None:
    kubectl = installed
    service = get_json(kubectl, "service", API, "-n", OPERATOR_NAMESPACE)
    port = service["spec"]["ports"][0]["port"]
    base = f"https://{service['spec']['clusterIP']}:{port}/api/v1/namespaces/{CLIENTS}/instances"
    kubectl("create", "serviceaccount", "client", "-n", CLIENTS)
    kubectl("create", "rolebinding", "client", "--clusterrole=edit",
            f"--serviceaccount={CLIENTS}:client", "-n", CLIENTS)  # fmt: skip
    token = kubectl("create", "token", "client", "-n", CLIENTS).stdout.strip()
    # From this host, through kube-proxy's rules for the Service's IP, to an API pod; the
    # certificate is the API's self-signed one (no api.certSecret).
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, verify=False, timeout=TIMEOUT + 10
    ) as client:
        # The edit role reaches the token's user through aggregation and the authorizer's
        # watch: wait until it may create, then until the API answers at all.
        user = f"system:serviceaccount:{CLIENTS}:client"
        wait_for(
            lambda: kubectl("auth", "can-i", "create", "hopperinstances.hopper.dev",
                            f"--as={user}", "-n", CLIENTS, check=False).returncode == 0,
            timeout=TIMEOUT,
            what="edit to reach the client",
        )  # fmt: skip
        wait_for(lambda: answers(client, base), timeout=TIMEOUT, what="the API")
        made = client.post(base, json={"id": "via-api", "name": "Via the API", "scope": "GLOBAL"})
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "created"
        started = client.post(f"{base}/via-api/start", params={"timeout": TIMEOUT})
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "running"
        # Two replicas behind the Service, each reading from its own watch: the other
        # one may see the last write a moment later.
        ready = {"id": "via-api", "status": "running", "ready": True}
        wait_for(
            lambda: ready.items() <= client.get(f"{base}/via-api/status").json().items(),
            timeout=TIMEOUT,
            what="the status through the API",
        )
        assert client.get(base, headers={"Authorization": "Bearer garbage"}).status_code == 401
    instance = get_json(kubectl, "hopperinstance", "via-api", "-n", CLIENTS)
    assert instance["spec"]["displayName"] == "Via the API"
    created_by = instance["metadata"]["annotations"]["hopper.dev/created-by"]
    assert created_by == f"system:serviceaccount:{CLIENTS}:client"
