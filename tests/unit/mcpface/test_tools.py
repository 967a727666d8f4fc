"""The tools as a model sees them, and what a call answers before any request is made:
the catalog, the read-only mode, bad arguments, and refusals in the REST API's words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import mcp_types as types
import pytest

from hopper_operator.kube.client import KubeError
from hopper_operator.mcpface.follow import Followers, parse
from hopper_operator.mcpface.identity import Bearer, Kubeconfig
from hopper_operator.mcpface.server import Context, Face, build, call, told
from hopper_operator.mcpface.tools import BY_NAME, TOOLS
from hopper_operator.rest.errors import ApiError
from hopper_operator.rest.schemas import Instance, InstanceList
from hopper_operator.rest.store import Store

READS = {"hopper_list_instances", "hopper_get_instance", "hopper_instance_tree",
         "hopper_wait_for_instance"}  # fmt: skip


class NoSource:
    async def names(self, namespace: str) -> AsyncIterator[str]:
        await asyncio.Event().wait()
        yield namespace


def face(*, read_only: bool = False) -> Face:
    """A face whose store is never reached: what these calls answer comes first."""
    followers = Followers(NoSource(), max_subscriptions=2)
    return Face(cast(Store, None), "home", lambda _: Kubeconfig("me"), followers, read_only)


def calling(tool: str, **arguments: object) -> types.CallToolResult:
    params = types.CallToolRequestParams(name=tool, arguments=arguments)
    return asyncio.run(call(face(read_only=True), cast(Context, None), params))


def test_every_tool_is_described_for_a_model_with_its_rbac() -> None:
    assert len(TOOLS) == 12 == len(BY_NAME)
    for tool in TOOLS:
        listed = tool.listed()
        assert listed.annotations and listed.annotations.read_only_hint is (tool.name in READS)
        assert listed.input_schema["properties"]["namespace"]["default"] is None
        assert listed.meta == {
            "hopper.dev/rbac": {"verb": tool.verb, "resource": "hopperinstances",
                                "group": "hopper.dev"}
        }  # fmt: skip
        assert "Needs" in (listed.description or ""), tool.name
    # The outputs are the REST API's own bodies.
    assert BY_NAME["hopper_get_instance"].output is Instance
    assert BY_NAME["hopper_list_instances"].output is InstanceList
    assert BY_NAME["hopper_start_instance"].verb == "patch"
    assert BY_NAME["hopper_create_instance"].listed().input_schema["required"] == ["name", "scope"]


def test_read_only_lists_only_reads() -> None:
    assert {tool.name for tool in face(read_only=True).tools()} == READS
    assert len(face().tools()) == 12


def test_a_write_by_name_is_refused_in_read_only_mode() -> None:
    result = calling("hopper_delete_instance", id="x")
    assert result.is_error
    assert result.content[0].text == (  # type: ignore[union-attr]
        "hopper_delete_instance is not available: this server is read-only"
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"id": "x", "timeout_seconds": 0}, "arguments -> timeout_seconds"),
        ({"id": "Not A Name"}, "arguments -> id"),
        ({}, "arguments -> id"),
        ({"id": "x", "colour": "red"}, "arguments -> colour"),
    ],
)
def test_bad_arguments_name_the_argument(arguments: dict[str, object], named: str) -> None:
    result = calling("hopper_wait_for_instance", **arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Invalid arguments:") and named in text, text
    assert "Traceback" not in text


def test_an_unknown_tool_is_refused() -> None:
    assert calling("kubectl_delete_everything").is_error


def test_refusals_read_as_the_rest_api_says_them() -> None:
    caller, api = Kubeconfig("me"), Bearer(cast(object, None), "Bearer t")  # type: ignore[arg-type]
    assert told(ApiError(404, "Instance x not found"), api).content[0].text == (  # type: ignore[union-attr]
        "Instance x not found"
    )
    # As the kubeconfig's user, the API server's 403 is the caller's own refusal...
    forbidden = KubeError(403, 'hopperinstances "x" is forbidden: User "me" cannot patch')
    assert told(forbidden, caller).content[0].text == forbidden.message  # type: ignore[union-attr]
    # ...as the API's ServiceAccount, it is our fault: nothing internal is said.
    assert "Internal error" in told(forbidden, api).content[0].text  # type: ignore[union-attr]
    gone = told(KubeError(503, "etcd away"), api)
    assert gone.is_error and "cannot be reached" in gone.content[0].text  # type: ignore[union-attr]


def test_an_instance_uri_reads_back() -> None:
    assert parse("hopper://namespaces/team-a/instances/p-1") == ("team-a", "p-1")
    with pytest.raises(Exception, match="Unknown resource"):
        parse("hopper://instances/p-1")


def test_the_server_serves_tools_resources_and_listen() -> None:
    server = build(face())
    methods = {"tools/list", "tools/call", "resources/templates/list", "resources/read",
               "resources/subscribe", "subscriptions/listen"}  # fmt: skip
    assert all(server.get_request_handler(method) for method in methods)
