"""A tool call honours the client's cancellation: a wait the client gives up on ends on the
server at once, not at its timeout, and the server goes on serving. No operator runs, so
the instance waited for never gets there."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client
from tests.integration.mcp_fixtures import (
    call,
    logged,
    over_http,
    stdio_parameters,
    structured,
    verbose_api,
)
from tests.integration.rest_fixtures import Tokens

from hopper_localcluster import ControlPlane

__all__ = ["verbose_api"]  # fixtures

WAIT = "hopper_wait_for_instance"
LONG = 300  # seconds (the most): far beyond the test's deadlines, so only the cancellation ends it


async def given_up(session: ClientSession, log: Path) -> None:
    """Wait for an instance that stays Created; once the server is in the call, give up."""

    async def wait() -> None:
        await call(session, WAIT, id="idle", status="running", timeout_seconds=LONG)
        raise AssertionError("the wait answered: it should have been cancelled")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        await logged(log, f"{WAIT}: called")
        tasks.cancel_scope.cancel()


async def ended(log: Path) -> None:
    line = await logged(log, f"{WAIT}: cancelled after", within=20)
    seconds = re.search(r"cancelled after ([0-9.]+) s", line)
    assert seconds and float(seconds[1]) < 20, line


async def test_stdio_a_cancelled_wait_ends(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> None:
    log = tmp_path / "mcp.log"
    parameters = stdio_parameters(control_plane, namespace, "--verbose")
    with log.open("w") as errlog:
        async with (
            stdio_client(parameters, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await call(session, "hopper_create_instance", id="idle", name="idle", scope="GLOBAL")
            # The SDK's client tells the server with notifications/cancelled.
            await given_up(session, log)
            await ended(log)
            idle = structured(await call(session, "hopper_get_instance", id="idle"))
            assert idle["status"] == "created"


async def test_http_a_wait_ends_when_its_client_hangs_up(
    verbose_api: tuple[str, Path], tokens: Tokens
) -> None:
    url, log = verbose_api
    token = tokens("edit")
    async with over_http(url, token) as session:
        await call(session, "hopper_create_instance", id="idle", name="idle", scope="GLOBAL")
    async with over_http(url, token) as session:
        await given_up(session, log)
    # The client is closed, its connection with it: the stateless server has no session to
    # be told of a cancellation on, only the hang-up.
    await ended(log)
    async with over_http(url, token) as session:
        idle = structured(await call(session, "hopper_get_instance", id="idle"))
        assert idle["status"] == "created"
