"""`hopper-operator run -n NS` as a separate process, as deployed, and its memory."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import IO, TypeVar

from hopper_localcluster import free_ports
from hopperbench.errors import BenchError
from hopperbench.procstat import memory_mb

T = TypeVar("T")
STOP_TIMEOUT = 20.0
TAIL_LINES = 40


def operator_command(profile: Path | None) -> list[str]:
    """The console script next to this interpreter; under pyinstrument when profiling."""
    script = Path(sys.executable).parent / "hopper-operator"
    if profile is None:
        if script.exists():
            return [str(script), "run"]
        return [sys.executable, "-m", "hopper_operator.cli.main", "run"]
    return [
        sys.executable,
        "-m",
        "pyinstrument",
        "-r",
        "pyisession",
        "-o",
        str(profile),
        "-m",
        "hopper_operator.cli.main",
        "run",
    ]


def _metrics_args() -> list[str]:
    """Metrics served as deployed, but on a free port: the machine may run other operators."""
    if not _has_metrics_flag():
        return []
    return ["--metrics-port", str(free_ports(1)[0])]


@functools.cache
def _has_metrics_flag() -> bool:
    run = [sys.executable, "-m", "hopper_operator.cli.main", "run", "--help"]
    done = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    return "--metrics-port" in done.stdout


class OperatorProcess:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self._command = command
        self._env = {**env, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self._log_file: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, namespace: str, extra: list[str] | None = None) -> None:
        self._spawn(["-n", namespace, *_metrics_args(), *(extra or [])])

    def _spawn(self, args: list[str]) -> None:
        # Killed with us even if we die without cleaning up (SIGKILL, fatal signal).
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        self._log_file = self.log.open("ab")
        self.popen = subprocess.Popen(
            [*prefix, *self._command, *args],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers. Idempotent."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-TAIL_LINES:])

    def memory_mb(self) -> dict[str, float]:
        return memory_mb(self.pid)

    async def guard(self, work: Awaitable[T]) -> T:
        """Await `work`, failing at once if the operator exits meanwhile."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if self.popen is not None and self.popen.poll() is not None and not task.done():
                    raise BenchError(
                        f"the operator exited with code {self.popen.returncode}; "
                        f"last lines of its log ({self.log}):\n{self.tail()}"
                    )
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
