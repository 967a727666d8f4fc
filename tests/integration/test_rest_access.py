"""Who may do what through the REST API: exactly what RBAC grants the token's user with
kubectl; and the answers when the API server cannot be reached or refuses the API itself."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import service_account_kubeconfig
from tests.integration.rest_fixtures import BASE, Tokens, client_for, kubeconfig_login

from hopper_localcluster import ControlPlane, free_ports
from hopper_operator.kube.client import Kube

GLOBAL = {"name": "g", "scope": "GLOBAL"}


async def test_no_token_or_garbage_is_401(api_kube: Kube, namespace: str) -> None:
    async with client_for(api_kube, namespace, None) as anonymous:
        response = await anonymous.get(BASE)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"detail": "Not authenticated"}
    async with client_for(api_kube, namespace, "not-a-token") as garbage:
        assert (await garbage.post(BASE, json=GLOBAL)).status_code == 401


async def test_view_reads_and_is_refused_writes(
    api_kube: Kube, namespace: str, tokens: Tokens
) -> None:
    async with client_for(api_kube, namespace, tokens("edit")) as editor:
        assert (await editor.post(BASE, json={**GLOBAL, "id": "seen"})).status_code == 201
    async with client_for(api_kube, namespace, tokens("view")) as viewer:
        assert (await viewer.get(BASE)).json()["total"] == 1
        assert (await viewer.get(f"{BASE}/seen")).status_code == 200
        assert (await viewer.get(f"{BASE}/seen/hierarchy")).status_code == 200
        refused = await viewer.post(BASE, json=GLOBAL)
        assert refused.status_code == 403
        detail = refused.json()["detail"]
        assert "cannot create" in detail and "hopperinstances" in detail and namespace in detail
        for method, path, verb in (
            ("POST", f"{BASE}/seen/start", "patch"),
            ("PUT", f"{BASE}/seen", "update"),
            ("DELETE", f"{BASE}/seen", "delete"),
        ):
            answer = await viewer.request(
                method, path, json={"name": "x"} if method == "PUT" else None
            )
            assert answer.status_code == 403, (method, path)
            assert f"cannot {verb} resource" in answer.json()["detail"]


async def test_edit_acts_in_its_namespace_only(
    api_kube: Kube, namespace: str, other_namespace: str, tokens: Tokens
) -> None:
    async with client_for(api_kube, namespace, tokens("edit")) as editor:
        assert (await editor.post(BASE, json={**GLOBAL, "id": "mine"})).status_code == 201
        elsewhere = f"/api/v1/namespaces/{other_namespace}/instances"
        refused = await editor.post(elsewhere, json=GLOBAL)
        assert refused.status_code == 403 and other_namespace in refused.json()["detail"]
        assert (await editor.get(elsewhere)).status_code == 403


async def test_unreachable_api_server_is_503_with_retry_after(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    (port,) = free_ports(1)  # nothing listens there
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    away = tmp_path / "away.kubeconfig"
    away.write_text(yaml.safe_dump(config))
    async with Kube(kubeconfig_login(away)) as kube, client_for(kube, namespace, "t") as client:
        response = await client.get(BASE)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert "detail" in response.json()
        assert (await client.get("/readyz")).status_code == 503


async def test_a_fault_of_the_api_itself_is_500_with_a_request_id_only(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str, tokens: Tokens, tmp_path: Path
) -> None:
    # The API logged in as an account that may review tokens but not read instances.
    role = f"reviewer-{uuid.uuid4().hex[:6]}"
    kubectl("create", "clusterrole", role, "--verb=create",
            "--resource=tokenreviews.authentication.k8s.io,"
            "subjectaccessreviews.authorization.k8s.io")  # fmt: skip
    kubectl("create", "serviceaccount", "weak", "-n", namespace)
    kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}",
            f"--serviceaccount={namespace}:weak")  # fmt: skip
    try:
        weak = service_account_kubeconfig(control_plane, namespace, "weak", tmp_path / "weak")
        token = tokens("view")
        async with (
            Kube(kubeconfig_login(weak)) as kube,
            client_for(kube, namespace, token) as client,
        ):
            response = await client.get(f"{BASE}/anything")
        assert response.status_code == 500
        request_id = response.headers["X-Request-ID"]
        assert response.json() == {"detail": f"Internal server error (request id {request_id})"}
        assert "forbidden" not in response.text.lower()
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", role, check=False)
