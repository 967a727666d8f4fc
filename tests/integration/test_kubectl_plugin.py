"""`kubectl hopper` as a user runs it: found on PATH by the real kubectl."""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from tests.conftest import Kubectl
from tests.integration.conftest import (
    Operator,
    PhaseRecorder,
    apply,
    apply_samples,
    instance,
    wait_for,
    wait_for_phases,
)

from hopper_localcluster import ControlPlane, kubectl_path
from hopper_localcluster.kubelet import StandInKubelet


def plugin_env(control_plane: ControlPlane) -> dict[str, str]:
    """The control plane's admin, with the installed `kubectl-hopper` on PATH."""
    env = control_plane.env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def plugin(
    control_plane: ControlPlane, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = plugin_env(control_plane)
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [str(kubectl_path()), "hopper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def with_context(control_plane: ControlPlane, directory: Path, name: str) -> Path:
    """A copy of the control plane's kubeconfig with one more context, `name`."""
    copy = directory / "kubeconfig"
    shutil.copy(control_plane.kubeconfig, copy)
    config = yaml.safe_load(copy.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    config["contexts"].append({"name": name, "context": dict(current["context"])})
    config["current-context"] = "unused"  # so only --context can make the call work
    copy.write_text(yaml.safe_dump(config))
    return copy


def test_verbs_tree_and_wait_exit_codes(
    tmp_path: Path,
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    control_plane: ControlPlane,
    phases: PhaseRecorder,
) -> None:
    apply_samples(kubectl, namespace)
    wait_for_phases(kubectl, namespace, "Running", timeout=90)
    tree = plugin(control_plane, "-n", namespace, "tree")
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0].startswith("acme [GLOBAL] Running")
    assert any(
        line.startswith("│   └── acme-web-triage") or "└── acme-web-triage" in line
        for line in lines
    )

    # As a kubectl user types it: flags after the name, a context of the kubeconfig.
    kubeconfig = with_context(control_plane, tmp_path, "dev")
    paused = plugin(
        control_plane,
        "pause",
        "acme",
        "-n",
        namespace,
        "--context",
        "dev",
        "--wait",
        kubeconfig=kubeconfig,
    )
    assert paused.returncode == 0, paused.stderr
    nowhere = plugin(control_plane, "tree", "-n", namespace, "--context=nowhere")
    assert nowhere.returncode == 2 and 'context "nowhere"' in nowhere.stderr, nowhere.stderr
    wait_for_phases(kubectl, namespace, "Paused")
    assert plugin(control_plane, "-n", namespace, "resume", "acme", "--wait").returncode == 0
    wait_for_phases(kubectl, namespace, "Running")
    restarted = plugin(control_plane, "-n", namespace, "restart", "acme-data", "--wait")
    assert restarted.returncode == 0, restarted.stderr
    assert phases.phases["acme-data"][-4:] == ["Stopping", "Stopped", "Starting", "Running"]

    missing = plugin(control_plane, "-n", namespace, "wait", "nope", "--timeout", "2")
    assert missing.returncode == 2 and "not found" in missing.stderr
    apply(kubectl, namespace, instance("waits", "PROJECT", parent="absent"))
    timed_out = plugin(control_plane, "-n", namespace, "wait", "waits", "--timeout", "3")
    assert timed_out.returncode == 1
    apply(kubectl, namespace, instance("wrong", "PROJECT", parent="acme-web-triage"))
    stalled = plugin(control_plane, "-n", namespace, "wait", "wrong", "--timeout", "60")
    assert stalled.returncode == 3


def test_back_to_back_restarts_are_each_carried_out(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    control_plane: ControlPlane,
    phases: PhaseRecorder,
) -> None:
    apply(kubectl, namespace, instance("lone"))
    assert plugin(control_plane, "-n", namespace, "wait", "lone").returncode == 0
    for _ in range(2):
        restarted = plugin(control_plane, "-n", namespace, "restart", "lone", "--wait")
        assert restarted.returncode == 0, restarted.stderr

    # A token equal to the last start's own timestamp: compared as a time, it would not be
    # newer than that start, and the restart would be lost.
    def status() -> dict[str, Any]:
        got = kubectl("get", "hopperinstance", "lone", "-n", namespace, "-o", "json").stdout
        return dict(json.loads(got)["status"])

    same_second = status()["startedAt"]
    kubectl(
        "annotate",
        "hopperinstance",
        "lone",
        "-n",
        namespace,
        f"hopper.dev/restartedAt={same_second}",
        "--overwrite",
    )
    wait_for(lambda: status().get("lastRestart") == same_second, what="the third restart")
    waited = plugin(control_plane, "-n", namespace, "wait", "lone", "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    cycle = ["Stopping", "Stopped", "Starting", "Running"]
    assert phases.phases["lone"][-12:] == cycle * 3, phases.phases["lone"]


def watching_plugin(control_plane: ControlPlane, *args: str, **io: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(kubectl_path()), "hopper", "tree", "--watch", *args],
        env=plugin_env(control_plane),
        stderr=subprocess.PIPE,
        text=True,
        **io,
    )


def interrupt(watch: subprocess.Popen[str]) -> None:
    """Ctrl-C: exit 0, and the kubectl it ran (`get -w`, maybe a list) gone with it."""
    children = psutil.Process(watch.pid).children()
    watch.send_signal(signal.SIGINT)
    assert watch.wait(timeout=15) == 0, watch.communicate()[1]
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def kubectl_watching(watch: subprocess.Popen[str]) -> int | None:
    """The pid of the `kubectl get -w` the plugin runs now (None between two)."""
    for child in psutil.Process(watch.pid).children():
        try:
            if "--watch" in child.cmdline():
                return child.pid
        except psutil.Error:
            pass
    return None


class Terminal:
    """What a terminal shows: the frame after the last screen clear, read with a deadline."""

    CLEAR = "\x1b[H\x1b[2J"

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def frame(self) -> str:
        return self.text.rsplit(self.CLEAR, 1)[-1].replace("\r\n", "\n")

    def wait_for(self, *lines: str, timeout: float = 90.0) -> str:
        """Until the frame starts with one of `lines`' each (as the tree draws them)."""
        deadline = time.monotonic() + timeout

        def shown() -> bool:
            drawn = [line.lstrip("│├└─ ") for line in self.frame().splitlines()]
            return all(any(d.startswith(line) for d in drawn) for line in lines)

        while not shown():
            left = deadline - time.monotonic()
            assert left > 0, f"not drawn: {lines}; the screen shows:\n{self.frame()}"
            if select.select([self.fd], [], [], left)[0]:
                self.text += os.read(self.fd, 1 << 16).decode(errors="replace")
        return self.frame()


def test_tree_watch_redraws_on_a_terminal_until_ctrl_c(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    control_plane: ControlPlane,
) -> None:
    apply(kubectl, namespace, instance("acme"), instance("acme-web", "PROJECT", parent="acme"))
    screen, tty = os.openpty()
    settings = termios.tcgetattr(tty)
    watch = watching_plugin(control_plane, "-n", namespace, stdin=tty, stdout=tty)
    terminal = Terminal(screen)
    try:
        terminal.wait_for("acme [GLOBAL] Running", "acme-web [PROJECT] Running")
        assert plugin(control_plane, "-n", namespace, "pause", "acme").returncode == 0
        frame = terminal.wait_for("acme [GLOBAL] Paused", "acme-web [PROJECT] Paused")
        assert frame.splitlines()[1].startswith("└── acme-web [PROJECT]"), frame
        interrupt(watch)
        assert termios.tcgetattr(tty) == settings  # the terminal is left as it was
    finally:
        watch.kill()
        os.close(tty)
        os.close(screen)


class Lines:
    """The lines a piped process prints, collected as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._reader = threading.Thread(target=self.lines.extend, args=(process.stdout,))
        self._reader.start()

    def of(self, prefix: str) -> list[str]:
        return [line.rstrip("\n") for line in list(self.lines) if line.startswith(prefix)]


def test_tree_watch_piped_prints_a_line_per_change_across_namespaces(
    kubectl: Kubectl,
    namespace: str,
    operator: Operator,
    kubelet: StandInKubelet,
    control_plane: ControlPlane,
) -> None:
    apply(kubectl, namespace, instance("acme"), instance("acme-web", "PROJECT", parent="acme"))
    # kubectl's own timeout ends each watch after 2 s: the plugin starts it again
    watch = watching_plugin(control_plane, "-A", "--request-timeout=2s", stdout=subprocess.PIPE)
    printed = Lines(watch)
    acme, web = f"{namespace}/acme ", f"{namespace}/acme-web "
    try:
        wait_for(lambda: f"{web}Running True Reconciled" in printed.of(web), what="web running")
        first = wait_for(lambda: kubectl_watching(watch), what="kubectl get -w")
        wait_for(lambda: kubectl_watching(watch) not in (None, first), what="a second watch")
        assert plugin(control_plane, "-n", namespace, "pause", "acme").returncode == 0
        wait_for(lambda: printed.of(web)[-1:] == [f"{web}Paused True Reconciled"], what="paused")
        kubectl("delete", "hopperinstance", "acme-web", "-n", namespace, "--wait=false")
        wait_for(lambda: printed.of(web)[-1:] == [f"{web}Deleted - -"], what="deleted")
        interrupt(watch)
    finally:
        watch.kill()
    for mine in (printed.of(acme), printed.of(web)):
        assert all(re.fullmatch(r"\S+/\S+ [A-Z][a-z]+ (True|False|-) \S+", line) for line in mine)
        assert all(a != b for a, b in itertools.pairwise(mine)), mine  # each once
    assert printed.of(acme)[-1] == f"{acme}Paused True Reconciled"
