"""Child processes of a local cluster: start, wait until ready, stop newest first.

Knows nothing of Kubernetes: the control plane and the node tier each keep a
`Supervisor` for their own processes and describe what "ready" means for each one.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from hopper_localcluster.binaries import ControlPlaneError

POLL_INTERVAL = 0.1
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 30
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now, all distinct."""
    # Every socket stays bound until all are picked, so the kernel cannot hand out the
    # same port twice; the ports are then free again for the processes to bind.
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> list[str]:
    """A command prefix that kills the child when the launcher dies without cleaning up.

    atexit does not run on SIGKILL, os._exit or a fatal signal; the kernel's parent-death
    signal does. util-linux's setpriv sets it and execs, which (unlike a preexec_fn) runs
    no Python between fork and exec, where another thread's lock could deadlock us. The
    signal fires when the *thread* that forked exits, so it is only safe from the main
    thread, whose end is the process's end. Elsewhere, atexit and stop() must do.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_id() -> str:
    """This process, named so that another launcher can tell whether it still runs."""
    # The host name keeps containers that share /tmp but not a pid namespace from
    # judging each other's launchers dead.
    return f"{os.getpid()}@{socket.gethostname()}"


def owner_gone(owner: str) -> bool:
    """Whether the process `owner_id()` named has ended (False when unsure)."""
    pid, _, host = owner.partition("@")
    try:
        return host == socket.gethostname() and not pid_alive(int(pid))
    except ValueError:
        return False


class StartStop(ABC):
    """Something started and stopped, also as a context manager (`with X() as x:`)."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"

    def signal_group(self, sig: signal.Signals) -> None:
        # Only while not yet reaped: until then the pid cannot have been reused.
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)


class Supervisor:
    """Processes started in `workdir` (their logs beside them), stopped newest first."""

    def __init__(self, workdir: Path, *, ready_timeout: float) -> None:
        self._workdir = workdir
        self._ready_timeout = ready_timeout
        self._processes: list[Process] = []

    @property
    def pids(self) -> dict[str, int]:
        """Process name to pid, for the processes started and not yet stopped."""
        return {process.name: process.popen.pid for process in self._processes}

    @property
    def newest(self) -> Process:
        return self._processes[-1]

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log = self._workdir / f"{name}.log"
        with log.open("wb") as log_file:
            popen = subprocess.Popen(
                [*_die_with_parent(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
                env=None if env is None else dict(env),
                # A session of their own: Ctrl-C in a terminal reaches only the launcher,
                # which then stops them in order instead of all dying at once.
                start_new_session=True,
            )
        process = Process(name=name, popen=popen, log=log)
        self._processes.append(process)
        return process

    def wait_until(self, process: Process, state: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while True:
            code = process.popen.poll()
            if code is not None:
                raise self.failure(process, f"exited with code {code} before {state}")
            try:
                if check():
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass  # not listening yet, or mid-restart of its listener
            if time.monotonic() > deadline:
                raise self.failure(process, f"not {state} after {self._ready_timeout:.0f} s")
            time.sleep(POLL_INTERVAL)

    def start_on_free_ports(
        self,
        name: str,
        port_count: int,
        argv: Callable[[list[int]], list[str]],
        state: str,
        check: Callable[[list[int]], bool],
    ) -> list[int]:
        """Start a process on fresh free ports, again on new ones if it lost them."""
        attempt = 1
        while True:
            ports = free_ports(port_count)
            process = self.spawn(name, argv(ports))
            try:
                self.wait_until(process, state, functools.partial(check, ports))
                return ports
            except ControlPlaneError:
                # A free port is free only until someone binds it: any outgoing
                # connection on the machine may take it before our process does.
                lost_race = process.popen.poll() is not None and PORT_TAKEN in process.tail()
                if not lost_race or attempt == PORT_ATTEMPTS:
                    raise
                self._processes.remove(process)
                attempt += 1

    def restart(
        self, name: str, argv: list[str], sig: signal.Signals, state: str, check: Callable[[], bool]
    ) -> None:
        """Fault drills: stop `name` with `sig` and start it again with `argv`."""
        (old,) = [process for process in self._processes if process.name == name]
        old.signal_group(sig)
        old.popen.wait()
        self._processes.remove(old)
        self.wait_until(self.spawn(name, argv), state, check)

    def failure(self, process: Process, what: str) -> ControlPlaneError:
        # Workdirs, logs included, are deleted on failure: the message carries the tail.
        return ControlPlaneError(
            f"{process.name} {what}. Last {LOG_TAIL_LINES} lines of its log:\n{process.tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM each process group, newest first, then SIGKILL what is left. Idempotent."""
        deadline = time.monotonic() + timeout
        for process in reversed(self._processes):
            process.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            process.signal_group(signal.SIGKILL)
            process.popen.wait()
        self._processes = []


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# Liveness probes of components with self-signed certificates, on loopback: there is
# nothing to verify them against, or to protect.
UNVERIFIED = _unverified_context()


def http_get(port: int, path: str, tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """GET http(s)://127.0.0.1:port/path -> (status, body); plain HTTP without `tls`."""
    connection = (
        http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        if tls is None
        else http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=5)
    )
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
