"""The chart's REST Instance API as users reach it: its Deployment from `kubectl apply -k
manifests/`, through its Service, with a ServiceAccount token bound to `edit`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

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


def editor_token(kubectl: Kubectl, account: str) -> str:
    """A token of a new ServiceAccount bound to `edit` in the clients' namespace, once the
    role has reached it (through aggregation and the authorizer's watch)."""
    kubectl("create", "serviceaccount", account, "-n", CLIENTS)
    kubectl("create", "rolebinding", account, "--clusterrole=edit",
            f"--serviceaccount={CLIENTS}:{account}", "-n", CLIENTS)  # fmt: skip
    user = f"system:serviceaccount:{CLIENTS}:{account}"
    wait_for(
        lambda: kubectl("auth", "can-i", "create", "hopperinstances.hopper.dev",
                        f"--as={user}", "-n", CLIENTS, check=False).returncode == 0,
        timeout=TIMEOUT,
        what=f"edit to reach {account}",
    )  # fmt: skip
    return kubectl("create", "token", account, "-n", CLIENTS).stdout.strip()


def service_url(kubectl: Kubectl, path: str) -> str:
    service = get_json(kubectl, "service", API, "-n", OPERATOR_NAMESPACE)
    port = service["spec"]["ports"][0]["port"]
    return f"https://{service['spec']['clusterIP']}:{port}{path}"


def test_the_api_creates_and_starts_an_instance_through_its_service(installed: Kubectl) -> None:
    kubectl = installed
    base = service_url(kubectl, f"/api/v1/namespaces/{CLIENTS}/instances")
    token = editor_token(kubectl, "client")
    # From this host, through kube-proxy's rules for the Service's IP, to an API pod; the
    # certificate is the API's self-signed one (no api.certSecret).
    with httpx.Client(
        headers={"Authorization": f"Bearer {token}"}, verify=False, timeout=TIMEOUT + 10
    ) as client:
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


def test_mcp_through_the_service_outlives_the_pod_that_served(installed: Kubectl) -> None:
    """Two API replicas serve /mcp statelessly: after the pod that served a tool call is
    deleted, the same client session's next call is served by the other."""
    kubectl = installed
    url = service_url(kubectl, "/mcp")
    token = editor_token(kubectl, "agent")
    with httpx.Client(verify=False) as probe:
        wait_for(lambda: answers(probe, service_url(kubectl, "/readyz")), timeout=TIMEOUT,
                 what="the API")  # fmt: skip

    def served_by() -> str:
        """The API pod whose log says it created the instance (the one that served)."""
        pods = get_json(kubectl, "pods", "-n", OPERATOR_NAMESPACE, "-l",
                        "app.kubernetes.io/component=api")["items"]  # fmt: skip
        for pod in pods:
            name = pod["metadata"]["name"]
            log = kubectl("logs", "-n", OPERATOR_NAMESPACE, name, check=False).stdout
            if f"created instance {CLIENTS}/via-mcp" in log:
                return str(name)
        return ""

    async def agent() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, verify=False, timeout=TIMEOUT) as client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            arguments = {"id": "via-mcp", "name": "Via MCP", "scope": "GLOBAL",
                         "namespace": CLIENTS}  # fmt: skip
            made = await session.call_tool("hopper_create_instance", arguments)
            assert isinstance(made, types.CallToolResult) and not made.is_error, made
            serving = await asyncio.to_thread(
                wait_for, served_by, timeout=30, what="the pod that served"
            )
            await asyncio.to_thread(kubectl, "delete", "pod", serving, "-n", OPERATOR_NAMESPACE)
            got = await session.call_tool("hopper_get_instance", {"id": "via-mcp",
                                                                  "namespace": CLIENTS})  # fmt: skip
            assert isinstance(got, types.CallToolResult) and not got.is_error, got
            assert got.structured_content and got.structured_content["id"] == "via-mcp"

    asyncio.run(agent())
