"""A stalled instance answers at once, and alike, through every face: the REST verb a 409
with the Stalled condition's message, `kubectl hopper` exit 3 with the same message, both
long before their waits would time out (core.verbs says when a request is done)."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import apply, condition, get_json, instance, wait_for
from tests.integration.rest_fixtures import BASE
from tests.integration.test_kubectl_plugin import plugin

from hopper_localcluster import ControlPlane

pytestmark = pytest.mark.usefixtures("operator")

WAIT = 60  # seconds either face would wait for a target that is merely slow
AT_ONCE = 15  # far below WAIT: the answer came from the stall, not from a timeout


async def test_rest_and_the_plugin_answer_a_stalled_instance_at_once_with_its_message(
    editor: httpx.AsyncClient, kubectl: Kubectl, namespace: str, control_plane: ControlPlane
) -> None:
    # A PROJECT under an ORCHESTRATION: the webhooks and the REST create refuse it; applied
    # here without either, as a cluster without the webhooks would take it.
    apply(
        kubectl,
        namespace,
        instance("top", "GLOBAL", state="Stopped"),
        instance("orch", "ORCHESTRATION", parent="top", state="Stopped"),
        instance("wrong", "PROJECT", parent="orch", state="Stopped"),
    )

    def stalled() -> str:
        obj = get_json(kubectl, "hopperinstance", "wrong", "-n", namespace)
        found = condition(obj, "Stalled")
        return str(found.get("message") or "") if found.get("status") == "True" else ""

    message = wait_for(stalled, timeout=60, what="the operator to find wrong stalled")

    for method, path, body in (("POST", "/start", None), ("PUT", "", {"status": "running"})):
        started = time.monotonic()
        answer = await editor.request(
            method, f"{BASE}/wrong{path}", json=body, params={"timeout": WAIT}
        )
        took = time.monotonic() - started
        assert answer.status_code == 409, (method, answer.text)
        assert answer.json() == {"detail": message}
        assert took < AT_ONCE, (method, took)
    # The start was asked (spec.state written) before the operator could say it stalls.
    assert get_json(kubectl, "hopperinstance", "wrong", "-n", namespace)["spec"]["state"] == (
        "Running"
    )

    for args in (["start", "wrong", "--wait"], ["wait", "wrong"]):
        started = time.monotonic()
        run = plugin(control_plane, "-n", namespace, *args, "--timeout", str(WAIT))
        took = time.monotonic() - started
        assert run.returncode == 3, (args, run.stdout, run.stderr)
        assert run.stderr.strip() == f"hopperinstances.hopper.dev/wrong stalled: {message}"
        assert took < AT_ONCE, (args, took)
