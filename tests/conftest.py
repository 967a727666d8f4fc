"""Shared fixtures. The control plane starts only when an integration test asks for it."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil
import pytest

from hopper_localcluster import ControlPlane, ControlPlaneError, kubectl_path

INTEGRATION_DIR = Path(__file__).parent / "integration"


class Kubectl(Protocol):
    def __call__(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]: ...


@dataclass
class _StoppedPlane:
    # name -> (pid, create time): the time tells a survivor from a reused pid.
    processes: dict[str, tuple[int, float]]
    workdir: Path


def survivors(processes: dict[str, tuple[int, float]]) -> list[str]:
    """Which of the recorded processes still run (zombies count as gone)."""
    alive = []
    for name, (pid, created) in processes.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{name} (pid {pid})")
        except psutil.NoSuchProcess:
            pass
    return alive


def identify(pids: dict[str, int]) -> dict[str, tuple[int, float]]:
    return {name: (pid, psutil.Process(pid).create_time()) for name, pid in pids.items()}


@dataclass
class _Leftovers:
    """Control planes the session stopped, checked once everything is torn down."""

    stopped: list[_StoppedPlane] = field(default_factory=list)


_leftovers_key = pytest.StashKey[_Leftovers]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_leftovers_key] = _Leftovers()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    plane = ControlPlane()
    try:
        plane.start()
    except ControlPlaneError as error:
        # A missing or broken control plane is a failure, never a skip: a skipped
        # integration suite looks green in CI while testing nothing.
        pytest.fail(f"The local control plane did not start:\n{error}", pytrace=False)
    stopped = _StoppedPlane(identify(plane.processes), plane.workdir)
    try:
        yield plane
    finally:
        plane.stop()
        request.config.stash[_leftovers_key].stopped.append(stopped)


@pytest.hookimpl(trylast=True)  # after the runner's own hook has torn the fixtures down
def pytest_sessionfinish(session: pytest.Session) -> None:
    problems: list[str] = []
    for plane in session.config.stash[_leftovers_key].stopped:
        problems += [f"{survivor} is still running" for survivor in survivors(plane.processes)]
        if plane.workdir.exists():
            problems.append(f"{plane.workdir} still exists")
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "control plane teardown left things behind: " + "; ".join(problems)
        if reporter is not None:
            reporter.write_line(message, red=True, bold=True)
        else:
            print(message)


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return kubectl_for(control_plane)


def kubectl_for(control_plane: ControlPlane) -> Kubectl:
    """The real kubectl as `control_plane`'s admin; fails loudly unless check=False."""
    binary = str(kubectl_path())
    env = control_plane.env()

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited with {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    return run


def _fresh_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    yield from _fresh_namespace(kubectl)


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    """A second namespace, for what must not reach past the first."""
    yield from _fresh_namespace(kubectl)
