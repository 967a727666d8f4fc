"""Fixtures of the REST Instance API's tests: the app in process, through httpx, with the
real control plane behind it, and tokens of users bound to the built-in roles."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from unittest import mock

import httpx
import kopf
import pytest
from tests.conftest import Kubectl

from hopper_localcluster import ControlPlane
from hopper_operator.kube.client import Kube, connection_info
from hopper_operator.rest.app import create_app

# Not from tests.integration.conftest at import time: that conftest imports this module.
USER_ROLES = Path(__file__).parents[2] / "manifests" / "user-roles.yaml"
BASE = "/api/v1/instances"

Tokens = Callable[[str], str]


def kubeconfig_login(path: Path) -> Callable[[], kopf.ConnectionInfo]:
    """The API's own login (`connection_info`), reading this kubeconfig."""

    def login() -> kopf.ConnectionInfo:
        with mock.patch.dict(os.environ, {"KUBECONFIG": str(path)}):
            return connection_info()

    return login


@contextlib.asynccontextmanager
async def client_for(
    kube: Kube, namespace: str, token: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app, its watches stopped after."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    app = create_app(kube, namespace=namespace)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:
            yield client
    finally:
        await app.state.informers.close()


@pytest.fixture
def tokens(kubectl: Kubectl, crd: None, namespace: str) -> Iterator[Tokens]:
    """`tokens(role)`: a token of a new ServiceAccount bound to the built-in `role` (view,
    edit, admin) in `namespace`, once the authorizer says it may act."""
    from tests.integration.conftest import wait_for

    kubectl("apply", "-f", str(USER_ROLES))
    made: list[str] = []

    def token(role: str) -> str:
        account = f"{role}-{uuid.uuid4().hex[:6]}"
        kubectl("create", "serviceaccount", account, "-n", namespace)
        kubectl("create", "rolebinding", account, f"--clusterrole={role}",
                f"--serviceaccount={namespace}:{account}", "-n", namespace)  # fmt: skip
        user = f"system:serviceaccount:{namespace}:{account}"
        # The aggregation controller and the authorizer's watch both take a moment: wait
        # for the strongest verb the role grants (view's rules may reach edit first).
        verb = "get" if role == "view" else "create"
        wait_for(
            lambda: kubectl("auth", "can-i", verb, "hopperinstances.hopper.dev",
                            f"--as={user}", "-n", namespace, check=False).returncode == 0,
            timeout=30,
            what=f"{role} to reach {user}",
        )  # fmt: skip
        made.append(account)
        return kubectl("create", "token", account, "-n", namespace).stdout.strip()

    yield token


@pytest.fixture
async def api_kube(control_plane: ControlPlane, crd: None) -> AsyncIterator[Kube]:
    async with Kube(kubeconfig_login(control_plane.kubeconfig), identity="rest-tests") as kube:
        yield kube


@pytest.fixture
async def editor(
    api_kube: Kube, namespace: str, tokens: Tokens
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the API as a user bound to `edit` in `namespace`."""
    async with client_for(api_kube, namespace, tokens("edit")) as client:
        yield client
