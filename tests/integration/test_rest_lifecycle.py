"""A whole lifecycle driven over REST with the operator running, while the phase recorder
watches that every instance takes only legal steps; concurrent verbs; waits that time out."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import Operator, PhaseRecorder, get_json
from tests.integration.rest_fixtures import BASE

pytestmark = pytest.mark.usefixtures("operator")


async def act(
    client: httpx.AsyncClient, id: str, verb: str, code: int = 200, **query: Any
) -> dict[str, Any]:
    response = await client.post(f"{BASE}/{id}/{verb}", params={"timeout": 60, **query})
    assert response.status_code == code, (verb, response.text)
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_whole_lifecycle_over_rest(
    editor: httpx.AsyncClient, phases: PhaseRecorder, kubectl: Kubectl, namespace: str
) -> None:
    made = await editor.post(BASE, json={"id": "life", "name": "life", "scope": "GLOBAL"})
    assert made.json()["status"] == "created"

    running = await act(editor, "life", "start")
    assert running["status"] == "running" and running["started_at"]
    await act(editor, "life", "start", 409)  # already there
    assert (await act(editor, "life", "pause"))["status"] == "paused"
    await act(editor, "life", "start", 400)  # not from paused: resume
    assert (await act(editor, "life", "resume"))["status"] == "running"
    assert (await act(editor, "life", "stop"))["status"] == "stopped"
    await act(editor, "life", "stop", 409)
    assert (await act(editor, "life", "start"))["status"] == "running"

    restarted = await act(editor, "life", "restart")
    assert restarted["status"] == "running"
    obj = get_json(kubectl, "hopperinstance", "life", "-n", namespace)
    assert obj["status"]["lastRestart"] == obj["metadata"]["annotations"]["hopper.dev/restartedAt"]

    refused = await editor.delete(f"{BASE}/life")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "Cannot delete running instance. Stop it first."}
    # PUT with a status is the same request by target status.
    stopped = await editor.put(f"{BASE}/life", json={"status": "stopped"}, params={"timeout": 60})
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert (await act(editor, "life", "terminate"))["status"] == "terminated"
    await act(editor, "life", "terminate", 409)
    await act(editor, "life", "start", 400)  # Terminated is final

    assert (await editor.delete(f"{BASE}/life")).status_code == 204
    assert (await editor.get(f"{BASE}/life")).json()["status"] == "terminated"
    assert (await editor.delete(f"{BASE}/life", params={"purge": "true"})).status_code == 204

    # The walk the verbs asked for, in order (the fixture checks every step was legal).
    milestones = iter(phases.phases["life"])
    asked = ["Running", "Paused", "Running", "Stopped", "Running", "Stopping", "Running"]
    asked += ["Stopped", "Terminated"]
    assert all(phase in milestones for phase in asked), phases.phases["life"]


async def test_two_clients_starting_at_once_both_get_a_consistent_answer(
    editor: httpx.AsyncClient, phases: PhaseRecorder
) -> None:
    await editor.post(BASE, json={"id": "race", "name": "race", "scope": "GLOBAL"})
    answers = await asyncio.gather(
        editor.post(f"{BASE}/race/start", params={"timeout": 60}),
        editor.post(f"{BASE}/race/start", params={"timeout": 60}),
    )
    codes = sorted(a.status_code for a in answers)
    assert all(code in (200, 409) for code in codes), [a.text for a in answers]
    assert 200 in codes
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["status"] == "running"
        else:
            assert "already" in answer.json()["detail"]


async def test_a_wait_that_times_out_answers_202(editor: httpx.AsyncClient) -> None:
    # A child does not run while its parent is not Running: its start waits, then 202.
    await editor.post(BASE, json={"id": "top", "name": "top", "scope": "GLOBAL"})
    await editor.post(
        BASE, json={"id": "low", "name": "low", "scope": "PROJECT", "parent_id": "top"}
    )
    waited = await editor.post(f"{BASE}/low/start", params={"timeout": 1})
    assert waited.status_code == 202 and waited.json()["status"] == "created"
    # Once the parent runs, the child gets there on its own.
    await act(editor, "top", "start")
    # Still created (the operator not yet woken), on its way, or there: 200 or 409.
    again = await editor.post(f"{BASE}/low/start", params={"timeout": 60})
    assert again.status_code in (200, 409), again.text
    if again.status_code == 200:
        assert again.json()["status"] == "running"
    else:
        assert again.json()["detail"] in (
            "Instance low is already in starting state",
            "Instance low is already in running state",
        )


async def test_verbs_reach_an_operator_in_the_installed_namespace_too(
    editor: httpx.AsyncClient, operator: Operator, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/instances"
    await editor.post(path, json={"id": "ns", "name": "ns", "scope": "FEDERATED"})
    started = await editor.post(f"{path}/ns/start", params={"timeout": 60})
    assert started.status_code == 200 and started.json()["status"] == "running"
