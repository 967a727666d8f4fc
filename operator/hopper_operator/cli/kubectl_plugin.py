"""`kubectl hopper`: the original Hopper verbs, done declaratively through kubectl.

Installed as `kubectl-hopper` with the package, so kubectl finds it on PATH. Every verb
is a plain kubectl call: kubectl's global flags (--context, --kubeconfig, --as, ...) are
passed through, so the user's kubeconfig, context and credentials apply as usual.
Lifecycle verbs set `spec.state`; restart sets the restart annotation to a fresh token.
What each verb asks for and when it is done is `core.verbs`'s to say.

Standard library only (plus this package's pure modules): it runs from a single-file
archive with any Python 3.11, as krew installs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import NoReturn

from hopper_operator.api.enums import Phase
from hopper_operator.api.meta import CRD_NAME, restart_token
from hopper_operator.api.wire import InstanceBody
from hopper_operator.cli import completion, watching
from hopper_operator.cli.tree import WaitResult, draw_scoped
from hopper_operator.core.verbs import (
    Progress,
    Verb,
    progress,
    progress_of,
    request,
    stalled_message,
    summary,
)

RESOURCE = CRD_NAME
# The exit code for each outcome of a wait; UNDERWAY keeps waiting.
EXIT_CODES = {Progress.DONE: WaitResult.READY, Progress.STALLED: WaitResult.STALLED}
# kubectl's flags, taken from anywhere on the line and handed to every kubectl call.
KUBECTL_VALUE_FLAGS = (
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "--cluster",
    "--user",
    "--as",
    "--as-group",
    "--as-uid",
    "--token",
    "-s",
    "--server",
    "--request-timeout",
    "--certificate-authority",
    "--client-certificate",
    "--client-key",
    "--tls-server-name",
    "--cache-dir",
)
KUBECTL_SWITCHES = ("--insecure-skip-tls-verify",)
PASSED_THROUGH = (
    "kubectl's flags are passed through, before or after the verb: -n/--namespace, "
    + ", ".join(f for f in KUBECTL_VALUE_FLAGS[2:] + KUBECTL_SWITCHES if f.startswith("--"))
)


def split_kubectl_flags(argv: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """(kubectl's flags, the rest): kubectl's own, wherever they stand, go to kubectl."""
    flags: list[str] = []
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        name = word.split("=", 1)[0]
        if (name in KUBECTL_VALUE_FLAGS and "=" in word) or word in KUBECTL_SWITCHES:
            flags.append(word)
        elif word in KUBECTL_VALUE_FLAGS:
            flags += [word, next(words, "")]
        else:
            rest.append(word)
    return tuple(flags), rest


COMPLETE = "__complete"  # hidden: what the completion scripts ask, as cobra's programs do


class KubectlError(Exception):
    """kubectl failed; its own message (already kubectl's words) is the error."""


@dataclass(frozen=True)
class Kubectl:
    """kubectl with the user's flags (namespace, context, credentials), as a child process."""

    flags: tuple[str, ...] = ()

    def __call__(self, *args: str) -> str:
        with self._running():
            result = subprocess.run(self._line(args), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KubectlError(result.stderr.strip() or f"kubectl {' '.join(args)} failed")
        return result.stdout

    def stream(self, *args: str) -> watching.Child:
        """kubectl left running, its output read as it comes (its errors, once it ends)."""
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (Child.stop closes it)
        with self._running():
            process = subprocess.Popen(self._line(args), stdout=subprocess.PIPE, stderr=errors)
        return watching.Child(process, errors)

    def _line(self, args: Sequence[str]) -> list[str]:
        return [os.environ.get("KUBECTL", "kubectl"), *self.flags, *args]

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            binary = self._line(())[0]
            raise KubectlError(f"error: cannot run {binary}: {error.strerror}") from None

    def get(self, name: str) -> InstanceBody:
        body: InstanceBody = json.loads(self("get", RESOURCE, name, "-o", "json"))
        return body

    def ask(self, name: str, verb: Verb) -> str:
        """Ask for `verb` with one merge patch; the restart token it carries."""
        token = restart_token()
        self("patch", RESOURCE, name, "--type=merge", "-p", json.dumps(request(verb, token)))
        return token


def wait(
    kubectl: Kubectl, name: str, judge: Callable[[InstanceBody], Progress], *, timeout: float
) -> WaitResult:
    """Until `judge` finds `name` done or stalled (said on stderr), or `timeout` seconds
    pass."""
    deadline = time.monotonic() + timeout
    while True:
        body = kubectl.get(name)
        outcome = judge(body)
        if outcome is Progress.STALLED:
            print(f"{RESOURCE}/{name} stalled: {stalled_message(body)}", file=sys.stderr)
        if outcome in EXIT_CODES:
            return EXIT_CODES[outcome]
        if time.monotonic() >= deadline:
            return WaitResult.TIMED_OUT
        time.sleep(0.5)


def listed(kubectl: Kubectl, all_namespaces: bool) -> list[InstanceBody]:
    scope = ["--all-namespaces"] if all_namespaces else []
    return list(json.loads(kubectl("get", RESOURCE, *scope, "-o", "json"))["items"])


def watch_tree(kubectl: Kubectl, all_namespaces: bool) -> int:
    """Redraw the tree on a terminal, or print a line per change, until Ctrl-C."""
    scope = ["--all-namespaces"] if all_namespaces else []
    watch = ("get", RESOURCE, *scope, "--watch", "--output-watch-events", "-o", "json")
    screen = watching.Screen(sys.stdout, sys.stdout.isatty(), all_namespaces)
    try:
        return watching.follow(
            lambda: kubectl.stream(*watch), lambda: listed(kubectl, all_namespaces), screen
        )
    except BrokenPipeError:
        # The reader went (`| head`): end quietly, as kubectl does, with nothing left to
        # flush into the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


class Parser(argparse.ArgumentParser):
    """argparse, speaking like kubectl when the command line is wrong."""

    def error(self, message: str) -> NoReturn:
        unknown = re.match(r"argument VERB: invalid choice: '([^']*)'", message)
        if unknown:
            message = f'unknown command "{unknown.group(1)}" for "{self.prog}"'
        elif message.startswith("unrecognized arguments: "):
            extra = message.removeprefix("unrecognized arguments: ").split()
            flags = [word for word in extra if word.startswith("-")]
            message = f"unknown flag: {flags[0]}" if flags else f"unexpected argument: {extra[0]}"
        self.exit(int(WaitResult.ERROR), f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def parser() -> Parser:
    root = Parser(
        prog="kubectl hopper",
        description=__doc__.split("\n\n")[0],
        epilog=PASSED_THROUGH,
    )
    verbs = root.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return verbs.add_parser(name, help=help, description=help, epilog=PASSED_THROUGH)

    shown = verb("tree", "draw the scope tree: phase, readiness, and why not Ready")
    shown.add_argument("-A", "--all-namespaces", action="store_true")
    shown.add_argument(
        "-w", "--watch", action="store_true", help="then redraw it on every change, until Ctrl-C"
    )
    for name in Verb:
        command = verb(name.value, summary(name))
        command.add_argument("names", nargs="+", metavar="NAME")
        command.add_argument(
            "--wait", action="store_true", help="then wait until done: Ready there (exit 0)"
        )
        command.add_argument("--timeout", type=float, default=120.0)
    waiting = verb("wait", "wait until Ready (exit 0), timed out (1), error (2), Stalled (3)")
    waiting.add_argument("names", nargs="+", metavar="NAME")
    waiting.add_argument(
        "--phase", default=None, choices=[p.value for p in Phase], help="also require this phase"
    )
    waiting.add_argument("--timeout", type=float, default=120.0)
    shells = verb("completion", "print a shell completion script: source <(kubectl hopper ...)")
    shells.add_argument("shell", choices=completion.SHELLS)
    return root


def run(args: argparse.Namespace, kubectl: Kubectl) -> int:
    if args.verb == "completion":
        print(completion.script(args.shell))
        return 0
    if args.verb == "tree" and args.watch:
        return watch_tree(kubectl, args.all_namespaces)
    if args.verb == "tree":
        print("\n".join(draw_scoped(listed(kubectl, args.all_namespaces), args.all_namespaces)))
        return 0
    if args.verb == "wait":
        phases = {Phase(args.phase)} if args.phase else None
        results = [
            wait(kubectl, name, partial(progress, phases=phases), timeout=args.timeout)
            for name in args.names
        ]
        return int(max(results))
    verb = Verb(args.verb)
    tokens: dict[str, str] = {}
    for name in args.names:
        tokens[name] = kubectl.ask(name, verb)
        print(f"{RESOURCE}/{name} {verb.value} requested")
    if not args.wait:
        return 0
    results = [
        wait(kubectl, name, partial(progress_of, verb, token=token), timeout=args.timeout)
        for name, token in tokens.items()
    ]
    return int(max(results))


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == [COMPLETE]:
        return complete_main(words[1:])
    flags, rest = split_kubectl_flags(words)
    args = parser().parse_args(rest)
    try:
        return run(args, Kubectl(flags))
    except KubectlError as error:
        print(error, file=sys.stderr)
        return int(WaitResult.ERROR)


def _names(kubectl: Kubectl, resource: str) -> list[str]:
    try:
        listed = kubectl("get", resource, "-o", "name", "--request-timeout=5s")
    except (KubectlError, OSError):
        return []
    return [line.rsplit("/", 1)[-1] for line in listed.split()]


def complete_main(argv: Sequence[str] | None = None) -> int:
    """`kubectl_complete-hopper WORDS...`: what kubectl 1.26+ runs to complete the plugin.

    The last word is the one being typed; instance names come from the cluster the flags
    typed so far point at.
    """
    *before, current = list(sys.argv[1:] if argv is None else argv) or [""]
    flags, rest = split_kubectl_flags(before)
    if before and before[-1] in ("-n", "--namespace"):
        found = _names(Kubectl(flags[:-2]), "namespaces")
        candidates = [name for name in found if name.startswith(current)]
    elif before and before[-1] in KUBECTL_VALUE_FLAGS:
        candidates = []
    else:
        candidates = completion.complete(
            [*rest, current], parser(), lambda: _names(Kubectl(flags), RESOURCE)
        )
    print(completion.answer(candidates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
