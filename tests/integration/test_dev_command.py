"""`hopper-localcluster dev` (what `make dev` runs), tried the way a new user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from tests.integration.admission import wait_admitting
from tests.integration.conftest import instance, wait_for

from hopper_operator.api.enums import Scope
from hopper_operator.core.tree import parent_scope_error

WRONG_RANK = parent_scope_error(Scope.PROJECT, Scope.ORCHESTRATION)
assert WRONG_RANK is not None


def test_dev_comes_up_judges_applies_pauses_and_leaves_nothing_behind_when_killed(
    tmp_path: Path,
) -> None:
    log = (tmp_path / "dev.log").open("w+")
    dev = subprocess.Popen(
        [sys.executable, "-m", "hopper_localcluster.cli", "dev"],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def paste_line() -> re.Match[str] | None:
            return re.search(
                r'export KUBECONFIG=(\S+) PATH="([^"]+):\$PATH"', Path(log.name).read_text()
            )

        found = wait_for(paste_line, timeout=120, what="the line to paste")
        kubeconfig, path = found.group(1), found.group(2)
        env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{path}:{os.environ['PATH']}"}
        children = list(psutil.Process(dev.pid).children(recursive=True))
        # The executable's own name: /proc's comm stops at 15 characters.
        names = {Path(p.exe()).name for p in children}
        assert {"etcd", "kube-apiserver", "kube-controller-manager"} <= names

        def kubectl(
            *args: str, input: str | None = None, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
            result = subprocess.run(
                ["kubectl", *args],
                env=env,
                input=input,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert not check or result.returncode == 0, f"kubectl {args}: {result.stderr}"
            return result

        def user(*args: str, input: str | None = None) -> str:
            return kubectl(*args, input=input).stdout

        def phases() -> dict[str, tuple[str, str]]:
            items = json.loads(user("get", "hopper", "-o", "json"))["items"]
            return {
                i["metadata"]["name"]: (
                    i.get("status", {}).get("phase", ""),
                    next(
                        (
                            c["status"]
                            for c in i.get("status", {}).get("conditions", [])
                            if c["type"] == "Ready"
                        ),
                        "",
                    ),
                )
                for i in items
            }

        wait_for(
            lambda: len(phases()) == 6 and set(phases().values()) == {("Running", "True")},
            timeout=120,
            what="the sample tree Ready",
        )
        # Everything it started, the operator included, to check that none survives.
        children = list(psutil.Process(dev.pid).children(recursive=True))
        assert any(
            "run" in p.cmdline() and "hopper_operator.cli.main" in p.cmdline() for p in children
        )
        assert "READY" in user("get", "hopper").splitlines()[0]
        # As in a cluster, the webhooks judge an apply: a PROJECT under an ORCHESTRATION
        # is refused with the Stalled message, the right rank goes through.
        wait_admitting(kubectl, "default")

        def dry_run(scope: str, parent: str) -> subprocess.CompletedProcess[str]:
            child = json.dumps(instance("child", scope, parent=parent))
            return kubectl("apply", "--dry-run=server", "-f", "-", input=child, check=False)

        wrong = dry_run("PROJECT", "acme-web-release")
        assert wrong.returncode != 0 and "denied the request" in wrong.stderr, wrong
        assert WRONG_RANK in wrong.stderr, wrong.stderr
        right = dry_run("ORCHESTRATION", "acme-web")
        assert right.returncode == 0, right.stderr
        assert user("hopper", "tree").startswith("acme [GLOBAL] Running")
        # A newcomer's first move: a namespace of their own. The operator watches them all.
        user("create", "namespace", "mine")
        user("apply", "-n", "mine", "-f", "-", input=json.dumps(instance("solo")))
        user("hopper", "wait", "solo", "-n", "mine", "--timeout", "60")
        # The REST Instance API, with the curl line it printed, as pasted.
        curl = re.search(r"^  (curl .+)$", Path(log.name).read_text(), re.MULTILINE)
        assert curl is not None
        wait_for(
            lambda: subprocess.run(["bash", "-c", curl.group(1)], env=env, capture_output=True,
                                   text=True, timeout=30, check=False).stdout.startswith("{"),
            timeout=60,
            what="the API to answer",
        )  # fmt: skip
        answer = subprocess.run(["bash", "-c", curl.group(1)], env=env, capture_output=True,
                                text=True, timeout=30, check=True).stdout  # fmt: skip
        tree = json.loads(answer)
        assert (tree["root"]["instance"]["id"], tree["total_instances"]) == ("acme", 6)
        user("hopper", "pause", "acme")
        wait_for(
            lambda: set(phases().values()) == {("Paused", "True")},
            timeout=60,
            what="the subtree Paused",
        )
    finally:
        # The webhook configurations still call the stopped operator while the rest stops:
        # nothing on the way down is judged by them, and nothing waits on them.
        stopping = time.monotonic()
        dev.send_signal(signal.SIGTERM)  # as `kill` does: not the terminal's Ctrl-C
        dev.wait(timeout=60)
        print(f"dev stopped {time.monotonic() - stopping:.1f}s after SIGTERM")
        log.close()
    assert dev.returncode == 0, Path(log.name).read_text()[-3000:]
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not Path(kubeconfig).parent.exists()
