"""The MCP face over both transports, with the operator running: the tools a model sees, a
tree created, started, waited for and paused, and the REST API's refusals as isError
results; who may do what over HTTP; the read-only mode; following an instance."""

from __future__ import annotations

import asyncio
import json

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from tests.conftest import Kubectl
from tests.integration.conftest import get_json, instance
from tests.integration.mcp_fixtures import (
    MODERN,
    Connect,
    call,
    handshake,
    http_client,
    mcp_api,
    modern_http,
    over_http,
    over_stdio,
    read_only_api,
    stdio_parameters,
    structured,
    text,
)
from tests.integration.rest_fixtures import Tokens

from hopper_localcluster import ControlPlane

__all__ = ["mcp_api", "read_only_api"]  # fixtures

TOOLS = {
    "hopper_list_instances", "hopper_get_instance", "hopper_instance_tree",
    "hopper_wait_for_instance", "hopper_create_instance", "hopper_delete_instance",
    "hopper_start_instance", "hopper_stop_instance", "hopper_pause_instance",
    "hopper_resume_instance", "hopper_restart_instance", "hopper_terminate_instance",
}  # fmt: skip
READS = {"hopper_list_instances", "hopper_get_instance", "hopper_instance_tree",
         "hopper_wait_for_instance"}  # fmt: skip


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest, control_plane: ControlPlane, namespace: str) -> Connect:
    """Sessions over each transport: stdio as the admin kubeconfig, HTTP with an `edit`
    ServiceAccount token. (Opened in the test: the SDK's task groups must end in the task
    they began in, and an async fixture's teardown runs in another.)"""
    if request.param == "stdio":
        return lambda: over_stdio(control_plane, namespace)
    url = request.getfixturevalue("mcp_api")
    token = request.getfixturevalue("tokens")("edit")
    return lambda: over_http(url, token)


@pytest.mark.usefixtures("operator")
async def test_a_tree_driven_by_tools(connect: Connect, namespace: str) -> None:
    async with connect() as session:
        await a_tree_driven_by_tools(session, namespace)


async def a_tree_driven_by_tools(session: ClientSession, namespace: str) -> None:
    assert session.protocol_version == "2025-11-25"
    listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == TOOLS
    for name, tool in listed.items():
        assert tool.annotations is not None and tool.output_schema is not None
        assert tool.annotations.read_only_hint is (name in READS), name
        assert "namespace" in tool.input_schema["properties"], name
        assert tool.meta and tool.meta["hopper.dev/rbac"]["resource"] == "hopperinstances"
    destructive = {n for n, t in listed.items() if t.annotations and t.annotations.destructive_hint}
    assert destructive == {"hopper_stop_instance", "hopper_terminate_instance",
                           "hopper_delete_instance"}  # fmt: skip
    assert listed["hopper_start_instance"].meta == {
        "hopper.dev/rbac": {"verb": "patch", "resource": "hopperinstances", "group": "hopper.dev"}
    }
    assert {"id", "wait", "timeout_seconds"} <= set(
        listed["hopper_start_instance"].input_schema["properties"]
    )

    root = structured(await call(session, "hopper_create_instance", id="root", name="Root",
                                 scope="global"))  # fmt: skip
    assert root["status"] == "created" and root["scope"] == "GLOBAL"
    child = structured(await call(session, "hopper_create_instance", id="kid", name="Kid",
                                  scope="PROJECT", parent_id="root", namespace=namespace))  # fmt: skip
    assert child["parent_id"] == "root"

    started = structured(await call(session, "hopper_start_instance", id="root",
                                    timeout_seconds=60))  # fmt: skip
    assert started["status"] == "running"
    await call(session, "hopper_start_instance", id="kid", wait=False)
    waited = structured(await call(session, "hopper_wait_for_instance", id="kid",
                                   status="running", timeout_seconds=60))  # fmt: skip
    assert waited == {**waited, "id": "kid", "status": "running", "ready": True}

    tree = structured(await call(session, "hopper_instance_tree", id="root"))
    assert tree["total_instances"] == 2
    assert tree["root"]["instance"]["id"] == "root" and tree["root"]["ready"] is True
    (node,) = tree["root"]["children"]
    assert node["instance"]["id"] == "kid" and node["instance"]["status"] == "running"
    assert node["depth"] == 1 and node["ready"] is True

    paused = structured(await call(session, "hopper_pause_instance", id="root", timeout_seconds=60))
    assert paused["status"] == "paused"
    followed = structured(await call(session, "hopper_wait_for_instance", id="kid",
                                     status="paused", timeout_seconds=60))  # fmt: skip
    assert followed["status"] == "paused"

    page = structured(await call(session, "hopper_list_instances", root_only=True))
    assert [item["id"] for item in page["items"]] == ["root"] and page["total"] == 1

    # The REST API's refusals, in its words, as isError results.
    missing = await call(session, "hopper_get_instance", id="nope")
    assert missing.is_error and text(missing) == "Instance nope not found"
    again = await call(session, "hopper_pause_instance", id="root")
    assert again.is_error and text(again) == "Instance root is already in paused state"
    rank = await call(session, "hopper_create_instance", name="g", scope="GLOBAL", parent_id="kid")
    assert rank.is_error and "arguments -> parent_id" in text(rank)
    assert "needs a parent of a smaller rank" in text(rank)
    orphan = await call(session, "hopper_create_instance", name="o", scope="ORCHESTRATION",
                        parent_id="ghost")  # fmt: skip
    assert orphan.is_error and text(orphan) == "Parent instance ghost not found"
    refused = await call(session, "hopper_delete_instance", id="root")
    assert refused.is_error
    assert text(refused) == "Cannot delete instance with 1 child instances. Delete children first."
    bad = await call(session, "hopper_wait_for_instance", id="root", timeout_seconds=-1)
    assert bad.is_error and "arguments -> timeout_seconds" in text(bad)


async def test_a_verb_not_there_in_time_says_so(connect: Connect) -> None:
    """No operator runs: the instance stays Created, and the answer says it is on its way."""
    async with connect() as session:
        await call(session, "hopper_create_instance", id="slow", name="slow", scope="GLOBAL")
        result = await call(session, "hopper_start_instance", id="slow", timeout_seconds=1)
    assert not result.is_error
    assert text(result).startswith("Instance slow is on its way to running (now created)")
    assert result.structured_content and result.structured_content["id"] == "slow"


async def test_who_may_do_what_over_http(
    mcp_api: str, tokens: Tokens, kubectl: Kubectl, namespace: str, other_namespace: str
) -> None:
    async with over_http(mcp_api, tokens("edit")) as editor:
        structured(
            await call(editor, "hopper_create_instance", id="seen", name="s", scope="GLOBAL")
        )
        foreign = await call(editor, "hopper_list_instances", namespace=other_namespace)
        assert foreign.is_error
        assert text(foreign).startswith(f'User "system:serviceaccount:{namespace}:edit-')
        assert text(foreign).endswith(
            f'cannot list resource "hopperinstances" in API group "hopper.dev" '
            f'in the namespace "{other_namespace}"'
        )
    before = get_json(kubectl, "hopperinstance", "seen", "-n", namespace)
    async with over_http(mcp_api, tokens("view")) as viewer:
        page = structured(await call(viewer, "hopper_list_instances"))
        assert [item["id"] for item in page["items"]] == ["seen"]
        resumed = await call(viewer, "hopper_resume_instance", id="seen")
        assert resumed.is_error and "cannot patch resource" in text(resumed)
    after = get_json(kubectl, "hopperinstance", "seen", "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    async with httpx.AsyncClient() as anonymous:
        answer = await anonymous.post(mcp_api, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"


async def test_read_only_lists_and_refuses(
    read_only_api: str, tokens: Tokens, control_plane: ControlPlane, namespace: str
) -> None:
    async with over_http(read_only_api, tokens("edit")) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert names == READS
        refused = await call(session, "hopper_create_instance", name="x", scope="GLOBAL")
        assert refused.is_error and "read-only" in text(refused)
    async with over_stdio(control_plane, namespace, "--read-only") as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == READS
        assert (await call(session, "hopper_start_instance", id="x")).is_error


async def test_a_stdio_subscriber_is_told_of_a_kubectl_change(
    control_plane: ControlPlane, kubectl: Kubectl, namespace: str
) -> None:
    """A desktop agent's handshake (2025-06-18), resources/subscribe, a change by kubectl."""
    told: asyncio.Queue[str] = asyncio.Queue()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            await told.put(str(message.params.uri))

    parameters = stdio_parameters(control_plane, namespace)
    async with (
        stdio_client(parameters) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        initialized = await handshake(session, "2025-06-18")
        assert initialized.protocol_version == "2025-06-18"
        assert initialized.capabilities.resources and initialized.capabilities.resources.subscribe

        await call(session, "hopper_create_instance", id="watched", name="w", scope="GLOBAL")
        uri = f"hopper://namespaces/{namespace}/instances/watched"
        read_back = await session.read_resource(uri)
        (contents,) = read_back.contents
        assert isinstance(contents, types.TextResourceContents) and '"watched"' in contents.text
        await session.subscribe_resource(uri)
        kubectl("annotate", "hopperinstance", "watched", "-n", namespace, "touched=yes")
        async with asyncio.timeout(30):
            assert await told.get() == uri


async def test_an_http_listener_is_told_of_a_kubectl_change(
    mcp_api: str, tokens: Tokens, kubectl: Kubectl, namespace: str
) -> None:
    """2026-07-28: subscriptions/listen, a stream any replica serves from its own watch."""
    async with modern_http(mcp_api, tokens("view")) as client:
        assert client.session.protocol_version == MODERN
        kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(instance("heard")))
        uri = f"hopper://namespaces/{namespace}/instances/heard"
        async with client.listen(resource_subscriptions=[uri]) as changes:
            kubectl("annotate", "hopperinstance", "heard", "-n", namespace, "touched=yes")
            async with asyncio.timeout(30):
                assert await anext(changes) == ResourceUpdated(uri)
        foreign = f"hopper://namespaces/{other(namespace)}/instances/x"
        with pytest.raises(MCPError, match="cannot watch resource"):
            async with client.listen(resource_subscriptions=[foreign]):
                pass


def other(namespace: str) -> str:
    return f"{namespace}-not-mine"


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_protocol_versions_agents_speak(
    transport: str, control_plane: ControlPlane, namespace: str, request: pytest.FixtureRequest
) -> None:
    """The handshake versions desktop agents send today, and the SDK's newest revision."""
    if transport == "http":
        url = request.getfixturevalue("mcp_api")
        token = request.getfixturevalue("tokens")("view")
    for version in ("2025-06-18", "2025-11-25"):
        if transport == "stdio":
            parameters = stdio_parameters(control_plane, namespace)
            opened = stdio_client(parameters)
        else:
            opened = streamable_http_client(url, http_client=http_client(token))
        async with opened as (read, write), ClientSession(read, write) as session:
            assert (await handshake(session, version)).protocol_version == version
            assert not (await call(session, "hopper_list_instances")).is_error
    modern = (
        Client(stdio_parameters(control_plane, namespace), mode=MODERN)
        if transport == "stdio"
        else None
    )
    async with modern or modern_http(url, token) as client:
        assert client.session.protocol_version == MODERN
        result = await client.call_tool("hopper_list_instances", {})
        assert not result.is_error


async def test_twenty_sessions_at_once(
    mcp_api: str, tokens: Tokens, control_plane: ControlPlane, namespace: str
) -> None:
    token = tokens("edit")

    async def one(index: int) -> str:
        async with over_http(mcp_api, token) as session:
            made = await call(session, "hopper_create_instance", id=f"s{index}", name="s",
                              scope="GLOBAL")  # fmt: skip
            return str(structured(made)["id"])

    made = await asyncio.gather(*(one(index) for index in range(20)))
    assert sorted(made) == sorted(f"s{index}" for index in range(20))
    async with over_http(mcp_api, token) as session:
        assert structured(await call(session, "hopper_list_instances", limit=100))["total"] == 20
