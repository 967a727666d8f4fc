"""The node tier: a real node (containerd, runc, CNI bridge, kubelet, kube-proxy, scheduler).

Runs only as root (CI is root); elsewhere every test here is skipped, and the end of the
run says why. When root, anything missing is a failure, never a skip. The
cluster is shared by the package's tests and torn down after the last one, which then
checks that the host is exactly as before: that check fails the run if it is not.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hopper_localcluster import ControlPlane, ControlPlaneError
from hopper_localcluster.host import (
    CGROUP_ROOT,
    CNI_CACHE,
    CONTAINER_LOG_LINKS,
    NETNS_DIR,
    SHARED_DIRS,
    SHIM_SOCKETS,
    read_sysctls,
    ruleset,
)
from hopper_localcluster.images import Image, Role, build_images
from hopper_localcluster.node import Node
from tests.conftest import Kubectl, identify, kubectl_for, survivors
from tests.integration.conftest import get_json, wait_for

E2E_DIR = Path(__file__).parent
NOT_ROOT = (
    "node tier (tests/e2e) not run: it needs root, to run containerd, a kubelet and "
    "kube-proxy (mounts, network namespaces, iptables). CI runs as root; so does `make e2e`."
)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if not _running_as_root():
                item.add_marker(pytest.mark.skip(reason=NOT_ROOT))


_timings_key = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_timings_key] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _running_as_root():
        terminalreporter.write_line(NOT_ROOT, yellow=True, bold=True)
    for line in config.stash[_timings_key]:
        terminalreporter.write_line(line)


@dataclass
class Cluster:
    plane: ControlPlane
    node: Node
    images: dict[Role, Image]
    kubectl: Kubectl


def _listing(*argv: str) -> list[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.stdout.splitlines()


def _rules(tool: str) -> list[str]:
    return ruleset("\n".join(_listing(f"{tool}-save")))


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def host_state() -> dict[str, Any]:
    """Everything a node may change on the host that must be back as it was after."""
    return {
        "sysctls": read_sysctls(),
        "iptables": _rules("iptables"),
        "ip6tables": _rules("ip6tables"),
        "links": sorted(line.split()[0] for line in _listing("ip", "-br", "link")),
        "netns": _entries(NETNS_DIR),
        "mounts": sorted(line.split()[4] for line in _listing("cat", "/proc/self/mountinfo")),
        "pod cgroups": sorted(str(p) for p in CGROUP_ROOT.glob("*/kubepods")),
        "shim sockets": _entries(SHIM_SOCKETS),
        "CNI results": _entries(CNI_CACHE),
        "container log links": _entries(CONTAINER_LOG_LINKS),
        "directories": sorted(str(d) for d in SHARED_DIRS if d.exists()),
    }


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    problems = []
    for key, was in before.items():
        now = after[key]
        if now != was:
            if isinstance(was, list):
                added = sorted(set(now) - set(was))
                removed = sorted(set(was) - set(now))
                problems.append(f"{key}: added {added[:10]}, removed {removed[:10]}")
            else:
                problems.append(f"{key}: was {was}, now {now}")
    return problems


def _say(config: pytest.Config, line: str) -> None:
    """A line for the end of the run (captured output of fixtures is shown only on failure)."""
    config.stash[_timings_key].append(line)


@pytest.fixture(scope="package")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    before = host_state()
    started = time.monotonic()
    plane = ControlPlane(for_node=True)
    node: Node | None = None
    try:
        plane.start()
        images = build_images()
        built = time.monotonic()
        node = Node(plane, images)
        node.start()
    except ControlPlaneError as error:
        if node is not None:
            node.stop()
        plane.stop()
        pytest.fail(f"The node tier did not start:\n{error}", pytrace=False)
    _say(
        request.config,
        f"node tier: control plane and images ready in {built - started:.1f} s, "
        f"node up {time.monotonic() - built:.1f} s later",
    )
    processes = identify({**plane.processes, **node.processes})
    workdirs = (plane.workdir, node.workdir)
    try:
        yield Cluster(plane, node, images, kubectl_for(plane))
    finally:
        stopping = time.monotonic()
        try:
            node.stop()
        finally:
            plane.stop()
        _say(request.config, f"node tier: torn down in {time.monotonic() - stopping:.1f} s")
    problems = [f"{name} is still running" for name in survivors(processes)]
    problems += [f"{workdir} still exists" for workdir in workdirs if workdir.exists()]
    problems += _differences(before, host_state())
    assert not problems, "the node tier left the host changed: " + "; ".join(problems)


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    return cluster.kubectl


Say = Callable[[str], None]


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Say:
    """Report a figure at the end of the run (a test's own output shows only on failure)."""
    return lambda line: _say(request.config, line)


__all__ = ["Cluster", "Say", "get_json", "wait_for"]
