"""The REST Instance API's routes and errors, through httpx against the app, with the real
control plane behind it (no operator here: statuses stay as created)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from tests.conftest import Kubectl
from tests.integration.conftest import get_json
from tests.integration.rest_fixtures import BASE


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# The seed's own two tests, as written there (the PROJECT given the GLOBAL parent our tree
# rules require).
async def test_create_instance(editor: httpx.AsyncClient) -> None:
    """Test creating a new instance."""
    await create(editor, id="test-root", name="test-root", scope="GLOBAL")
    response = await editor.post(
        "/api/v1/instances",
        json={
            "name": "test-instance",
            "scope": "PROJECT",
            "description": "Test instance",
            "parent_id": "test-root",
        },
    )

    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "test-instance"
    assert data["scope"] == "PROJECT"
    assert data["status"] == "created"


async def test_get_instance_not_found(editor: httpx.AsyncClient) -> None:
    """Test 404 for non-existent instance."""
    response = await editor.get("/api/v1/instances/nonexistent-id")
    assert response.status_code == 404


async def test_create_stores_what_has_no_spec_field_in_annotations(
    editor: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    made = await create(
        editor,
        name="Any text, even spaces: ✓",
        scope="global",  # the Hopper CLI sends lower case
        instance_type="ephemeral",
        config={"a": {"b": 1}},
        runtime_metadata={"host": "h1", "pid": 42},
        created_by="alice",
    )
    assert made["id"].startswith("global-") and len(made["id"]) == len("global-") + 8
    assert made["scope"] == "GLOBAL" and made["instance_type"] == "ephemeral"
    assert made["runtime_metadata"] == {"host": "h1", "pid": 42}
    assert made["created_by"] == "alice" and made["status"] == "created"
    obj = get_json(kubectl, "hopperinstance", made["id"], "-n", namespace)
    annotations = obj["metadata"]["annotations"]
    assert json.loads(annotations["hopper.dev/runtime-metadata"]) == {"host": "h1", "pid": 42}
    assert annotations["hopper.dev/created-by"] == "alice"
    assert obj["spec"]["displayName"] == "Any text, even spaces: ✓"
    assert obj["spec"]["state"] == "Stopped"  # created, not started
    # Without created_by, the caller's Kubernetes user is recorded.
    mine = await create(editor, name="mine", scope="GLOBAL")
    assert mine["created_by"].startswith(f"system:serviceaccount:{namespace}:edit-")


async def test_create_refusals(editor: httpx.AsyncClient) -> None:
    await create(editor, id="root", name="root", scope="GLOBAL")
    taken = await editor.post(BASE, json={"id": "root", "name": "again", "scope": "GLOBAL"})
    assert (taken.status_code, taken.json()) == (409, {"detail": "Instance root already exists"})
    orphan = await editor.post(BASE, json={"name": "o", "scope": "PROJECT", "parent_id": "nope"})
    assert orphan.status_code == 404
    assert orphan.json() == {"detail": "Parent instance nope not found"}
    # A parent of the wrong rank: GLOBAL cannot sit under GLOBAL.
    rank = await editor.post(BASE, json={"name": "g", "scope": "GLOBAL", "parent_id": "root"})
    assert rank.status_code == 422
    (error,) = rank.json()["errors"]
    assert error["field"] == "body -> parent_id" and "rank" in error["message"]
    assert rank.json()["error_type"] == "ValidationError"


LONG = "x" * 101
# (body, the field the 422 names): the API's own checks, then the API server's schema and
# CEL refusals, translated.
INVALID: list[tuple[Any, str]] = [
    ({"scope": "GLOBAL"}, "body -> name"),
    ({"name": "n"}, "body -> scope"),
    ({"name": "n", "scope": "GALAXY"}, "body -> scope"),
    ({"name": "n", "scope": 7}, "body -> scope"),
    ({"name": 5, "scope": "GLOBAL"}, "body -> name"),
    ({"name": "n", "scope": "GLOBAL", "id": "Not_A_Name"}, "body -> id"),
    ({"name": "n", "scope": "GLOBAL", "id": "a" * 64}, "body -> id"),
    ({"name": "n", "scope": "GLOBAL", "instance_type": "forever"}, "body -> instance_type"),
    ({"name": "n", "scope": "GLOBAL", "parent_id": "-bad-"}, "body -> parent_id"),
    ({"name": "n", "scope": "GLOBAL", "config": [1, 2]}, "body -> config"),
    ({"name": "n", "scope": "GLOBAL", "runtime_metadata": "x"}, "body -> runtime_metadata"),
    ({"name": "n", "scope": "GLOBAL", "description": {"a": 1}}, "body -> description"),
    ({"name": "n", "scope": "GLOBAL", "created_by": ["me"]}, "body -> created_by"),
    ([{"name": "n", "scope": "GLOBAL"}], "body"),
    ("not json", "body"),
    # The API server's refusals: schema (lengths, key counts) and CEL (the tree rules).
    ({"name": "", "scope": "GLOBAL"}, "body -> name"),
    ({"name": LONG, "scope": "GLOBAL"}, "body -> name"),
    ({"name": "n", "scope": "GLOBAL", "description": "d" * 1001}, "body -> description"),
    (
        {"name": "n", "scope": "GLOBAL", "config": {f"k{i}": i for i in range(129)}},
        "body -> config",
    ),
    ({"name": "n", "scope": "PROJECT"}, "body"),
]


@pytest.mark.parametrize(("body", "field"), INVALID, ids=[f for _, f in INVALID] and None)
async def test_invalid_bodies_answer_422_with_the_field(
    editor: httpx.AsyncClient, body: Any, field: str
) -> None:
    if isinstance(body, str):
        response = await editor.post(
            BASE, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await editor.post(BASE, json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error_type"] == "ValidationError"
    fields = [e["field"] for e in answer["errors"]]
    assert any(f == field or f.startswith(field + " -> ") for f in fields), answer
    assert all(e["message"] and e["type"] for e in answer["errors"]), answer


async def test_cel_refusal_arrives_with_its_message(editor: httpx.AsyncClient) -> None:
    response = await editor.post(BASE, json={"name": "p", "scope": "PROJECT"})
    (error,) = response.json()["errors"]
    assert "spec.parentRef is required for every scope below GLOBAL" in error["message"]
    assert error["field"] == "body"


async def test_list_filters_sorts_and_pages(editor: httpx.AsyncClient) -> None:
    await create(editor, id="g1", name="b-global", scope="GLOBAL")
    await create(editor, id="g2", name="a-global", scope="GLOBAL")
    for n in range(5):
        await create(editor, id=f"p{n}", name=f"p{n}", scope="project", parent_id="g1")
    await create(editor, id="o1", name="o1", scope="ORCHESTRATION", parent_id="p0")

    everything = (await editor.get(BASE, params={"limit": 100})).json()
    assert everything["total"] == 8 and not everything["has_more"]
    by_scope = (await editor.get(BASE, params={"scope": ["global", "ORCHESTRATION"]})).json()
    assert {i["id"] for i in by_scope["items"]} == {"g1", "g2", "o1"}
    children = (await editor.get(BASE, params={"parent_id": "g1"})).json()
    assert {i["id"] for i in children["items"]} == {f"p{n}" for n in range(5)}
    roots = (await editor.get(BASE, params={"root_only": "true", "sort_by": "name",
                                            "sort_order": "asc"})).json()  # fmt: skip
    assert [i["id"] for i in roots["items"]] == ["g2", "g1"]
    page = (await editor.get(BASE, params={"scope": "PROJECT", "sort_by": "id",
                                           "sort_order": "asc", "skip": 2, "limit": 2})).json()  # fmt: skip
    assert [i["id"] for i in page["items"]] == ["p2", "p3"]
    assert (page["total"], page["skip"], page["limit"], page["has_more"]) == (5, 2, 2, True)
    created = (await editor.get(BASE, params={"status": "created", "limit": 1})).json()
    assert created["total"] == 8
    assert (await editor.get(BASE, params={"status": "running"})).json()["total"] == 0

    for query, field in (
        ({"limit": 0}, "query -> limit"),
        ({"limit": 101}, "query -> limit"),
        ({"skip": -1}, "query -> skip"),
        ({"sort_by": "colour"}, "query -> sort_by"),
        ({"scope": "GALAXY"}, "query -> scope -> 0"),
    ):
        bad = await editor.get(BASE, params=query)
        assert bad.status_code == 422, query
        assert bad.json()["errors"][0]["field"] == field


async def test_get_put_and_if_match(editor: httpx.AsyncClient) -> None:
    await create(editor, id="one", name="one", scope="GLOBAL", config={"a": {"x": 1, "y": 2}})
    got = await editor.get(f"{BASE}/one")
    assert got.status_code == 200 and got.json()["id"] == "one"
    etag = got.headers["ETag"]

    put = await editor.put(
        f"{BASE}/one",
        json={"name": "renamed", "description": "d", "config": {"a": {"x": 3}}},
        headers={"If-Match": etag},
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert (body["name"], body["description"], body["config"]) == ("renamed", "d", {"a": {"x": 3}})
    assert put.headers["ETag"] != etag

    stale = await editor.put(f"{BASE}/one", json={"name": "again"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and "detail" in stale.json()
    assert (await editor.put(f"{BASE}/nope", json={"name": "x"})).status_code == 404
    illegal = await editor.put(f"{BASE}/one", json={"status": "starting"})
    assert illegal.status_code == 400
    assert illegal.json() == {"detail": "Invalid status transition from created to starting"}
    invalid = await editor.put(f"{BASE}/one", json={"name": LONG})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "body -> name"
    assert (await editor.put(f"{BASE}/one", json={"status": "asleep"})).status_code == 422


async def test_delete_is_soft_refuses_parents_and_purges(
    editor: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    await create(editor, id="top", name="top", scope="GLOBAL")
    await create(editor, id="kid", name="kid", scope="PROJECT", parent_id="top")
    refused = await editor.delete(f"{BASE}/top")
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "Cannot delete instance with 1 child instances. Delete children first."
    }
    assert (await editor.delete(f"{BASE}/nope")).status_code == 404

    soft = await editor.delete(f"{BASE}/kid")
    assert soft.status_code == 204
    # Still readable: terminated (asked; the operator, absent here, would carry it out).
    kept = get_json(kubectl, "hopperinstance", "kid", "-n", namespace)
    assert kept["spec"]["state"] == "Terminated"
    assert (await editor.get(f"{BASE}/kid")).status_code == 200

    gone = await editor.delete(f"{BASE}/kid", params={"purge": "true"})
    assert gone.status_code == 204
    assert (await editor.get(f"{BASE}/kid")).status_code == 404


async def test_children_hierarchy_and_status(editor: httpx.AsyncClient) -> None:
    await create(editor, id="r", name="r", scope="GLOBAL")
    for n in range(3):
        await create(editor, id=f"c{n}", name=f"c{n}", scope="PROJECT", parent_id="r")
    await create(editor, id="leaf", name="leaf", scope="ORCHESTRATION", parent_id="c1")

    page = (await editor.get(f"{BASE}/r/children", params={"limit": 2})).json()
    assert [i["id"] for i in page["items"]] == ["c0", "c1"] and page["has_more"]
    assert page["total"] == 3
    assert (await editor.get(f"{BASE}/nope/children")).status_code == 404

    tree = (await editor.get(f"{BASE}/r/hierarchy")).json()
    assert tree["total_instances"] == 5
    root = tree["root"]
    assert (root["instance"]["id"], root["depth"]) == ("r", 0)
    c1 = root["children"][1]
    assert (c1["instance"]["id"], c1["depth"]) == ("c1", 1)
    assert [(n["instance"]["id"], n["depth"]) for n in c1["children"]] == [("leaf", 2)]
    assert (await editor.get(f"{BASE}/nope/hierarchy")).status_code == 404

    status = (await editor.get(f"{BASE}/r/status")).json()
    assert status["id"] == "r" and status["status"] == "created"
    assert set(status) == {"id", "status", "ready", "reason", "message"}
    assert (await editor.get(f"{BASE}/nope/status")).status_code == 404


async def test_verbs_refuse_what_the_table_forbids_before_any_operator(
    editor: httpx.AsyncClient,
) -> None:
    await create(editor, id="v", name="v", scope="GLOBAL")
    for verb in ("pause", "resume", "stop", "restart"):
        refused = await editor.post(f"{BASE}/v/{verb}")
        assert refused.status_code == 400, verb
        assert refused.json() == {"detail": f"Cannot {verb} instance in created state"}
    assert (await editor.post(f"{BASE}/nope/start")).status_code == 404
    asked = await editor.post(f"{BASE}/v/start", params={"wait": "false"})
    assert asked.status_code == 202 and asked.json()["status"] == "created"


async def test_a_refused_put_or_verb_writes_nothing(
    editor: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    """Every 4xx of PUT and of each verb leaves the object as it was: same resourceVersion.
    With no operator here, nothing else writes it; its phase is set through the status
    subresource, as the operator would."""
    await create(editor, id="still", name="still", scope="GLOBAL")

    def version() -> str:
        obj = get_json(kubectl, "hopperinstance", "still", "-n", namespace)
        return str(obj["metadata"]["resourceVersion"])

    async def refused(method: str, path: str, code: int, **kwargs: Any) -> None:
        before = version()
        answer = await editor.request(method, f"{BASE}/still{path}", **kwargs)
        assert answer.status_code == code, (method, path, kwargs, answer.text)
        assert version() == before, (method, path, kwargs)

    etag = (await editor.get(f"{BASE}/still")).headers["ETag"]
    await refused("PUT", "", 412, json={"name": "x"}, headers={"If-Match": '"1"'})
    assert etag != '"1"'
    await refused("PUT", "", 400, json={"name": "x", "status": "starting"})
    await refused("PUT", "", 400, json={"name": "x", "status": "paused"})  # not from created
    await refused("PUT", "", 422, json={"name": LONG, "status": "terminated"})
    await refused("PUT", "", 422, json={"name": "x", "status": "asleep"})
    for verb in ("pause", "resume", "stop", "restart"):
        await refused("POST", f"/{verb}", 400)

    kubectl("patch", "hopperinstance", "still", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {"phase": "Running"}}))  # fmt: skip
    # The case: a new name with a status it already has. The name stays as it was.
    await refused("PUT", "", 409, json={"name": "renamed", "status": "running"})
    assert (await editor.get(f"{BASE}/still")).json()["name"] == "still"
    await refused("PUT", "", 400, json={"description": "d", "status": "terminated"})
    for verb, code in (("start", 409), ("resume", 409), ("terminate", 400)):
        await refused("POST", f"/{verb}", code)


async def test_the_namespaced_routes_serve_that_namespace(
    editor: httpx.AsyncClient, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/instances"
    made = await editor.post(path, json={"id": "here", "name": "here", "scope": "GLOBAL"})
    assert made.status_code == 201
    assert (await editor.get(f"{BASE}/here")).json()["id"] == "here"
    assert (await editor.get(f"{path}/here/status")).status_code == 200
    bad = await editor.get("/api/v1/namespaces/Not_A_Namespace/instances")
    assert bad.status_code == 422


async def test_bodies_over_one_mib_answer_413(editor: httpx.AsyncClient) -> None:
    big = {"name": "n", "scope": "GLOBAL", "config": {"blob": "x" * (1 << 20)}}
    response = await editor.post(BASE, json=big)
    assert response.status_code == 413 and "detail" in response.json()

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 65536

    streamed = await editor.post(
        BASE, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_openapi_health_and_request_ids(editor: httpx.AsyncClient) -> None:
    spec = (await editor.get("/openapi.json")).json()
    assert "/api/v1/instances/{id}/start" in spec["paths"]
    assert (await editor.get("/docs")).status_code == 200
    assert (await editor.get("/healthz")).status_code == 200
    assert (await editor.get("/readyz")).status_code == 200
    assert (await editor.get(f"{BASE}/nope")).headers["X-Request-ID"]


async def test_reads_follow_changes_made_with_kubectl(
    editor: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    """Reads answer from a watch-backed cache: a change made beside the API reaches it."""
    await create(editor, id="outside", name="before", scope="GLOBAL")
    assert (await editor.get(f"{BASE}/outside")).json()["name"] == "before"
    patch = json.dumps({"spec": {"displayName": "after"}})
    kubectl("patch", "hopperinstance", "outside", "-n", namespace, "--type=merge", "-p", patch)
    kubectl("delete", "hopperinstance", "outside", "-n", namespace)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(
        {"apiVersion": "hopper.dev/v1alpha1", "kind": "HopperInstance",
         "metadata": {"name": "made-by-kubectl"},
         # A large object: its watch event is one line of 200 KB.
         "spec": {"scope": "GLOBAL", "config": {"blob": "x" * 200_000}}}
    ))  # fmt: skip
    for _ in range(600):  # until the watch delivered both (at most a minute)
        listed = (await editor.get(BASE)).json()
        if [i["id"] for i in listed["items"]] == ["made-by-kubectl"]:
            break
        await asyncio.sleep(0.1)
    assert [i["id"] for i in listed["items"]] == ["made-by-kubectl"]
    assert (await editor.get(f"{BASE}/outside")).status_code == 404
