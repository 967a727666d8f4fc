"""`hopper-operator mcp`: the MCP tools over stdio for a desktop agent (docs/mcp.md), and
the flags of the same tools served at /mcp by `hopper-operator api`."""

from __future__ import annotations

import argparse
import asyncio
import os
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from hopper_operator.kube import login

if TYPE_CHECKING:  # the SDK and the web stack load only for the commands that serve
    from fastapi import FastAPI

    from hopper_operator.rest.server import AddOn

DEFAULT_SUBSCRIPTIONS = 100


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    mcp = commands.add_parser(
        "mcp", help="serve the Hopper tools to an agent over stdio, as the kubeconfig's user"
    )
    mcp.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="the namespace a tool call without one serves (default: the context's, else default)",
    )
    mcp.add_argument(
        "--read-only", action="store_true", help="list and serve only the tools that read"
    )
    subscription_flag(mcp, "--max-subscriptions")
    mcp.add_argument("-v", "--verbose", action="store_true", help="debug logging (on stderr)")
    return mcp


def subscription_flag(command: argparse.ArgumentParser, flag: str) -> None:
    command.add_argument(
        flag,
        type=int,
        default=DEFAULT_SUBSCRIPTIONS,
        metavar="N",
        help=f"instances followed at once, at most (default {DEFAULT_SUBSCRIPTIONS})",
    )


def api_flags(api: argparse.ArgumentParser) -> None:
    api.add_argument(
        "--mcp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve the MCP tools at /mcp too (default: yes)",
    )
    api.add_argument(
        "--mcp-read-only", action="store_true", help="at /mcp, only the tools that read"
    )
    subscription_flag(api, "--mcp-max-subscriptions")


def api_add_ons(args: argparse.Namespace) -> list[AddOn]:
    """/mcp beside the REST routes, unless --no-mcp."""
    if not args.mcp:
        return []
    from hopper_operator.mcpface import http

    settings = http.HttpSettings(
        read_only=args.mcp_read_only, max_subscriptions=args.mcp_max_subscriptions
    )

    def mounted(app: FastAPI, stopping: asyncio.Event) -> AbstractAsyncContextManager[None]:
        return http.mounted(app, stopping, settings)

    return [mounted]


def context_namespace(args: argparse.Namespace) -> str:
    """The kubeconfig context's namespace, as kubectl would use it, else default."""
    options = login.LoginOptions(kubeconfig=args.kubeconfig, context=args.context)
    found = login.kubeconfig(options, os.environ)
    if found is None:
        return login.own_namespace(None, [])  # in a pod: its own namespace
    return login.namespace_of(*found) or "default"


def run(args: argparse.Namespace) -> int:
    from hopper_operator.cli.process import configure_logging, event_loop_runner
    from hopper_operator.mcpface import stdio

    configure_logging(verbose=args.verbose, json_logs=False)  # on stderr: stdout is MCP's
    settings = stdio.StdioSettings(
        namespace=args.namespace or context_namespace(args),
        read_only=args.read_only,
        max_subscriptions=args.max_subscriptions,
    )
    with event_loop_runner() as runner:
        runner.run(stdio.serve(settings))
    return 0
