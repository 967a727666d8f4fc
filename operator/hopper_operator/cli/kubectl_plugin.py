"""`kubectl hopper`: the original Hopper verbs, done declaratively through kubectl.

Installed as `kubectl-hopper` with the package, so kubectl finds it on PATH. Every verb
is a plain kubectl call (the user's kubeconfig, context and credentials apply as usual):
lifecycle verbs set `spec.state`, restart sets the `hopper.dev/restartedAt` annotation.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hopper_operator.cli.tree import WaitResult, draw, judge

RESOURCE = "hopperinstances.hopper.dev"
STATES = {
    "start": "Running",
    "resume": "Running",
    "pause": "Paused",
    "stop": "Stopped",
    "terminate": "Terminated",
}


class KubectlError(Exception):
    pass


def kubectl(*args: str, namespace: str | None) -> str:
    binary = os.environ.get("KUBECTL", "kubectl")
    scope = ["-n", namespace] if namespace else []
    result = subprocess.run([binary, *scope, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise KubectlError(result.stderr.strip() or f"kubectl {' '.join(args)} failed")
    return result.stdout


def get(name: str, namespace: str | None) -> dict[str, Any]:
    return dict(json.loads(kubectl("get", RESOURCE, name, "-o", "json", namespace=namespace)))


def set_state(name: str, state: str, namespace: str | None) -> None:
    patch = json.dumps({"spec": {"state": state}})
    kubectl("patch", RESOURCE, name, "--type=merge", "-p", patch, namespace=namespace)


def restart_token() -> str:
    """A token no other restart uses: readable time first, random suffix for uniqueness."""
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}-{secrets.token_hex(4)}"


def restart(name: str, namespace: str | None) -> str:
    token = restart_token()
    kubectl(
        "annotate",
        RESOURCE,
        name,
        f"hopper.dev/restartedAt={token}",
        "--overwrite",
        namespace=namespace,
    )
    return token


def wait(
    name: str,
    namespace: str | None,
    *,
    phase: str | None,
    timeout: float,
    restart: str | None = None,
) -> WaitResult:
    deadline = time.monotonic() + timeout
    while True:
        verdict = judge(get(name, namespace), phase, restart)
        if verdict is not None:
            return verdict
        if time.monotonic() >= deadline:
            return WaitResult.TIMED_OUT
        time.sleep(0.5)


def tree(namespace: str | None, all_namespaces: bool) -> str:
    scope = ["--all-namespaces"] if all_namespaces else []
    items = json.loads(kubectl("get", RESOURCE, *scope, "-o", "json", namespace=namespace))["items"]
    if not items:
        return "No HopperInstances found."
    if not all_namespaces:
        return "\n".join(draw(items))
    out = []
    for ns in sorted({i["metadata"]["namespace"] for i in items}):
        out.append(f"namespace {ns}:")
        out += ["  " + line for line in draw(i for i in items if i["metadata"]["namespace"] == ns)]
    return "\n".join(out)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="kubectl hopper", description=__doc__)
    root.add_argument("-n", "--namespace", default=None, help="namespace (default: kubeconfig's)")
    verbs = root.add_subparsers(dest="verb", required=True)
    shown = verbs.add_parser("tree", help="draw the scope tree with phase and readiness")
    shown.add_argument("-A", "--all-namespaces", action="store_true")
    for verb, state in STATES.items():
        command = verbs.add_parser(verb, help=f"set spec.state to {state}")
        command.add_argument("name")
        command.add_argument("--wait", action="store_true", help="then wait until Ready")
        command.add_argument("--timeout", type=float, default=120.0)
    command = verbs.add_parser("restart", help="walk a Running instance through Stopped and back")
    command.add_argument("name")
    command.add_argument("--wait", action="store_true")
    command.add_argument("--timeout", type=float, default=120.0)
    waiting = verbs.add_parser(
        "wait",
        help="wait until Ready (exit 0), timed out (1), error (2), Stalled (3)",
    )
    waiting.add_argument("name")
    waiting.add_argument("--phase", default=None, help="also require this phase")
    waiting.add_argument("--timeout", type=float, default=120.0)
    return root


def run(args: argparse.Namespace) -> int:
    namespace = args.namespace
    if args.verb == "tree":
        print(tree(namespace, args.all_namespaces))
        return 0
    if args.verb == "wait":
        return int(wait(args.name, namespace, phase=args.phase, timeout=args.timeout))
    token = None
    if args.verb == "restart":
        token = restart(args.name, namespace)
    else:
        set_state(args.name, STATES[args.verb], namespace)
    print(f"{args.name}: {args.verb} requested")
    if args.wait:
        result = wait(args.name, namespace, phase=None, timeout=args.timeout, restart=token)
        return int(result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except KubectlError as error:
        print(f"error: {error}", file=sys.stderr)
        return int(WaitResult.ERROR)


if __name__ == "__main__":
    raise SystemExit(main())
