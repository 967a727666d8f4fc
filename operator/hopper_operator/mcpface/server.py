"""The MCP server: the tools, the instance resource and its following, over either
transport. Each request is judged for the identity the transport gives (`identity`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.requests import Request

from hopper_operator.kube.client import KubeError
from hopper_operator.mcpface.follow import TEMPLATE, Followers, parse
from hopper_operator.mcpface.identity import Identity
from hopper_operator.mcpface.tools import BY_NAME, TOOLS, Answer, Call, Tool
from hopper_operator.rest import mapping, service
from hopper_operator.rest.access import checked_namespace
from hopper_operator.rest.errors import UNAVAILABLE, ApiError, InvalidError, expected
from hopper_operator.rest.store import Store

logger = logging.getLogger(__name__)

NAME = "hopper-operator"
Context = ServerRequestContext[object, Request]
Identify = Callable[[Context], Identity]


REFUSALS = (ApiError, InvalidError, KubeError, aiohttp.ClientError, OSError)


@dataclass
class Face:
    store: Store
    namespace: str  # what a call without `namespace` serves
    identify: Identify
    followers: Followers
    read_only: bool = False

    def tools(self) -> list[Tool]:
        return [tool for tool in TOOLS if tool.reads or not self.read_only]


def refused(message: str, status: int | None = None) -> types.CallToolResult:
    meta = {"hopper.dev/status": status} if status else None
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=message)]
    return types.CallToolResult(content=content, is_error=True, _meta=meta)


def answered(answer: Answer) -> types.CallToolResult:
    body = answer.body.model_dump(mode="json")
    # pydantic's encoder: a third of json.dumps's time on the same dict.
    content: list[types.ContentBlock] = [
        types.TextContent(type="text", text=answer.body.model_dump_json())
    ]
    if answer.note:
        content.insert(0, types.TextContent(type="text", text=answer.note))
    return types.CallToolResult(content=content, structured_content=body)


def invalid(error: ValidationError) -> str:
    lines = [
        f"arguments -> {' -> '.join(map(str, e['loc'])) or '(all)'}: {e['msg']}"
        for e in error.errors()
    ]
    return "Invalid arguments:\n" + "\n".join(lines)


def told(error: Exception, identity: Identity) -> types.CallToolResult:
    """What the caller is told of a refusal: the REST API's own words."""
    if isinstance(error, KubeError) and error.status in (401, 403) and identity.acts_as_caller:
        return refused(error.message, error.status)  # the API server refused the caller
    if isinstance(error, KubeError):
        error = expected(error) or error
    if isinstance(error, ApiError):
        return refused(error.detail, error.status)
    if isinstance(error, InvalidError):
        return refused(
            "Invalid:\n" + "\n".join(f"{e.field}: {e.message}" for e in error.errors), 422
        )
    if isinstance(error, aiohttp.ClientError | OSError):
        return refused(UNAVAILABLE, 503)
    logger.error("tool call failed: %r", error, exc_info=error)
    return refused("Internal error; the server's log says more", 500)


async def call(
    face: Face, ctx: Context, params: types.CallToolRequestParams
) -> types.CallToolResult:
    tool = BY_NAME.get(params.name)
    if tool is None:
        return refused(f"Unknown tool {params.name}")
    if face.read_only and not tool.reads:
        return refused(f"{tool.name} is not available: this server is read-only", 403)
    identity = face.identify(ctx)

    async def start(asked: str | None) -> Call:
        namespace = checked_namespace(asked or face.namespace, "arguments -> namespace")
        user = await identity.allowed(tool.verb, namespace)
        return Call(face.store, namespace, user)

    begun = time.monotonic()
    logger.debug("%s: called", tool.name)
    try:
        return answered(await tool.invoke(params.arguments or {}, start))
    except ValidationError as error:
        return refused(invalid(error), 422)
    except REFUSALS as error:
        return told(error, identity)
    except asyncio.CancelledError:
        # The client cancelled it, or left (HTTP: hung up): a wait ends here, not at its timeout.
        logger.info("%s: cancelled after %.1f s", tool.name, time.monotonic() - begun)
        raise


def protocol_error(error: Exception, identity: Identity) -> MCPError:
    """A refusal of a request other than a tool call: a JSON-RPC error with the same words."""
    result = told(error, identity)
    first = result.content[0]
    text = first.text if isinstance(first, types.TextContent) else ""
    status = (result.meta or {}).get("hopper.dev/status")
    code = types.INVALID_PARAMS if status in (400, 404, 422) else types.INTERNAL_ERROR
    return MCPError(code, text)


async def read(face: Face, ctx: Context, address: str) -> types.ReadResourceResult:
    namespace, name = parse(address)
    identity = face.identify(ctx)
    try:
        checked_namespace(namespace, "uri -> namespace")
        await identity.allowed("get", namespace)
        obj = await service.read(face.store, namespace, name)
    except REFUSALS as error:
        raise protocol_error(error, identity) from None
    body = mapping.to_instance(obj).model_dump_json()
    contents: list[types.TextResourceContents | types.BlobResourceContents] = [
        types.TextResourceContents(uri=address, mime_type="application/json", text=body)
    ]
    return types.ReadResourceResult(contents=contents)


async def follow(face: Face, ctx: Context, address: str) -> None:
    """Start watching what `address` names, once the caller may watch it."""
    namespace, _ = parse(address)
    identity = face.identify(ctx)
    try:
        checked_namespace(namespace, "uri -> namespace")
        await identity.allowed("watch", namespace)
    except REFUSALS as error:
        raise protocol_error(error, identity) from None
    face.followers.watch(namespace)


def build(face: Face) -> Server[object]:
    async def list_tools(
        ctx: Context, _: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool.listed() for tool in face.tools()])

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await call(face, ctx, params)

    async def list_resources(
        ctx: Context, _: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def list_templates(
        ctx: Context, _: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            name="instance",
            uri_template=TEMPLATE,
            description="A Hopper instance as hopper_get_instance answers it; subscribe to be told when it changes.",
            mime_type="application/json",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(
        ctx: Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await read(face, ctx, str(params.uri))

    async def subscribe(ctx: Context, params: types.SubscribeRequestParams) -> types.EmptyResult:
        if ctx.request is not None:
            raise MCPError(
                types.INVALID_REQUEST,
                "resources/subscribe needs a session this server keeps: over HTTP, follow with "
                "subscriptions/listen (protocol 2026-07-28), or use stdio",
            )
        await follow(face, ctx, str(params.uri))
        face.followers.subscribe(ctx.session, str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(
        ctx: Context, params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        face.followers.unsubscribe(ctx.session, str(params.uri))
        return types.EmptyResult()

    async def listen(
        ctx: Context, params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        for address in params.notifications.resource_subscriptions or ():
            await follow(face, ctx, address)
        return await face.followers.listen(ctx, params)

    return Server(
        NAME,
        instructions=(
            "Hopper instances (HopperInstance objects) in Kubernetes: list, read, create, start,"
            " stop, pause, resume, restart, terminate and delete them, and wait for them."
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_subscriptions_listen=listen,
    )
