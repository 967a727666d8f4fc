"""Fixtures of the MCP face's tests: `hopper-operator mcp` over stdio and `hopper-operator
api` serving /mcp over plain HTTP, each a real process, driven by the SDK's own client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from hopper_localcluster import ControlPlane, free_ports

Connect = Callable[..., AbstractAsyncContextManager[ClientSession]]
MODERN = "2026-07-28"  # the stateless revision: subscriptions/listen


def stdio_parameters(
    control_plane: ControlPlane, namespace: str, *flags: str, kubeconfig: Path | None = None
) -> StdioServerParameters:
    config = kubeconfig or control_plane.kubeconfig
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "hopper_operator.cli.main", "mcp", "--kubeconfig", str(config),
              "-n", namespace, *flags],
        env=control_plane.env(),
    )  # fmt: skip


@contextlib.asynccontextmanager
async def over_stdio(
    control_plane: ControlPlane, namespace: str, *flags: str, kubeconfig: Path | None = None
) -> AsyncIterator[ClientSession]:
    """A session with `hopper-operator mcp`, initialized (the SDK's newest handshake)."""
    parameters = stdio_parameters(control_plane, namespace, *flags, kubeconfig=kubeconfig)
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def http_client(token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(120, read=300))


async def handshake(session: ClientSession, version: str) -> types.InitializeResult:
    """Initialize as a client that speaks `version` (a desktop agent's, say)."""
    initialized = await session.send_request(
        types.InitializeRequest(
            params=types.InitializeRequestParams(
                protocol_version=version,
                capabilities=types.ClientCapabilities(),
                client_info=types.Implementation(name="desktop", version="1"),
            )
        ),
        types.InitializeResult,
    )
    session.adopt(initialized)
    await session.send_notification(types.InitializedNotification())
    return initialized


@contextlib.asynccontextmanager
async def over_http(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """A session with /mcp as `token`'s user, initialized (the SDK's newest handshake)."""
    async with (
        http_client(token) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def modern_http(url: str, token: str) -> AsyncIterator[Client]:
    """A 2026-07-28 client of /mcp (no handshake: every request carries the version)."""
    async with http_client(token) as client:
        transport = streamable_http_client(url, http_client=client)
        async with Client(transport, mode=MODERN) as modern:
            yield modern


@pytest.fixture
def mcp_api(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[str]:
    """`hopper-operator api` over plain HTTP with /mcp on (its default): /mcp's URL."""
    for url, _ in _api(control_plane, namespace, tmp_path):
        yield url


@pytest.fixture
def read_only_api(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[str]:
    for url, _ in _api(control_plane, namespace, tmp_path, "--mcp-read-only"):
        yield url


@pytest.fixture
def verbose_api(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """As `mcp_api`, logging at debug: /mcp's URL and the process's log."""
    yield from _api(control_plane, namespace, tmp_path, "--verbose")


def _api(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, *flags: str
) -> Iterator[tuple[str, Path]]:
    from tests.integration.conftest import wait_for

    (port,) = free_ports(1)
    log_path = tmp_path / f"api-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hopper_operator.cli.main", "api", "-n", namespace,
             "--address", "127.0.0.1", "--port", str(port), "--plain-http", *flags],
            env=control_plane.env(), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return process.poll() is not None  # died: say so below

        try:
            wait_for(up, timeout=60, what="the API")
            assert process.poll() is None, log_path.read_text()
            yield f"{base}/mcp", log_path
        finally:
            process.terminate()
            process.wait(timeout=20)
            print(log_path.read_text())


def structured(result: types.CallToolResult) -> Any:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    # The same body as text, for clients without structured output.
    assert json.loads(text(result, last=True)) == result.structured_content
    return result.structured_content


def text(result: types.CallToolResult, *, last: bool = False) -> str:
    block = result.content[-1 if last else 0]
    assert isinstance(block, types.TextContent)
    return block.text


async def call(session: ClientSession, tool: str, **arguments: Any) -> types.CallToolResult:
    result = await session.call_tool(tool, arguments)
    assert isinstance(result, types.CallToolResult)
    return result


async def logged(path: Path, line: str, within: float = 30) -> str:
    """The first line of the log at `path` that holds `line`, once it is there."""
    async with asyncio.timeout(within):
        while True:
            written = await anyio.Path(path).read_text()
            found = [seen for seen in written.splitlines() if line in seen]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
