"""Start and stop a throw-away local control plane: etcd, kube-apiserver, controller-manager.

Synchronous on purpose: it runs from pytest session fixtures and from a CLI command,
neither of which has an event loop to share. No kubelet and no scheduler run, so pods
stay Pending; everything else (CRDs, RBAC, garbage collection, namespaces, Deployments
and ReplicaSets) behaves as in a real cluster.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from hopper_operator.controlplane.binaries import ControlPlaneError, find_binary
from hopper_operator.controlplane.certs import ADMIN_USER, Pki, create_pki

DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "garbagecollector",
    "namespace",
    "deployment",
    "replicaset",
    "serviceaccount",
    "serviceaccount-token",
    # Folds the aggregated hopper-instances-* roles into the built-in view, edit, admin.
    "clusterrole-aggregation",
)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
WORKDIR_PREFIX = "hopper-controlplane-"
OWNER_FILE = "owner.pid"
POLL_INTERVAL = 0.1
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 30
PORT_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


def kubectl_path() -> Path:
    return find_binary("kubectl")


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_id() -> str:
    # The host name keeps containers that share /tmp but not a pid namespace from
    # judging each other's launchers dead.
    return f"{os.getpid()}@{socket.gethostname()}"


def reap_stale_workdirs() -> None:
    """Remove workdirs left by launchers that were killed before they could clean up."""
    for workdir in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            pid, _, host = (workdir / OWNER_FILE).read_text().partition("@")
            owner = int(pid)
        except (OSError, ValueError):
            continue  # someone else's, or one being created right now
        if host == socket.gethostname() and not _pid_alive(owner):
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class _Process:
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


class ControlPlane:
    """One local control plane in its own temporary directory, on free ports."""

    def __init__(
        self,
        *,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        ready_timeout: float = 60.0,
        audit_policy: Path | None = None,
    ) -> None:
        self._controllers = tuple(controllers)
        self._ready_timeout = ready_timeout
        # With a policy, kube-apiserver writes a JSON audit log to `audit_log`.
        self._audit_policy = audit_policy
        self._workdir: Path | None = None
        self._apiserver_port: int | None = None
        self._processes: list[_Process] = []
        self._ssl: ssl.SSLContext | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._workdir is not None:
            raise ControlPlaneError("This control plane was already started.")
        # Resolve every binary first: a missing one should fail before anything runs.
        binaries = {
            name: find_binary(name)
            for name in ("etcd", "kube-apiserver", "kube-controller-manager")
        }
        reap_stale_workdirs()
        self._workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self._workdir / OWNER_FILE).write_text(_owner_id())
        atexit.register(self.stop)
        try:
            self._start_all(binaries)
        except BaseException:
            # Including KeyboardInterrupt: a half-started control plane must not linger.
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process, newest first, and delete the workdir. Idempotent."""
        atexit.unregister(self.stop)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in reversed(self._processes):
            process.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            process.signal_group(signal.SIGKILL)
            process.popen.wait()
        self._processes = []
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

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

    # -- what callers use --------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("The control plane has not been started.")
        return self._workdir

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def audit_log(self) -> Path | None:
        """kube-apiserver's JSON audit log, one event a line; None without a policy."""
        return None if self._audit_policy is None else self.workdir / "audit.log"

    @property
    def server_url(self) -> str:
        if self._apiserver_port is None:
            raise ControlPlaneError("The control plane has not been started.")
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def processes(self) -> dict[str, int]:
        """Process name to pid, for the processes started and not yet stopped."""
        return {process.name: process.popen.pid for process in self._processes}

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG, for subprocesses such as kubectl or the operator."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def version(self) -> dict[str, Any]:
        status, body = self._api_get("/version")
        if status != 200:
            raise ControlPlaneError(f"GET /version answered {status}: {body[:200]!r}")
        result: dict[str, Any] = json.loads(body)
        return result

    # -- start-up ----------------------------------------------------------------------

    def _start_all(self, binaries: dict[str, Path]) -> None:
        pki = create_pki(self.workdir / "pki")
        etcd_url = self._start_etcd(binaries["etcd"])
        self._ssl = ssl.create_default_context(cafile=str(pki.ca_cert))
        self._ssl.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        self._start_apiserver(binaries["kube-apiserver"], pki, etcd_url)
        self._write_kubeconfig(pki)
        self._start_controller_manager(binaries["kube-controller-manager"], pki)

    def _start_etcd(self, binary: Path) -> str:
        def argv(ports: list[int]) -> list[str]:
            client, peer = (f"http://127.0.0.1:{port}" for port in ports)
            return [
                str(binary),
                "--name=hopper",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=hopper={peer}",
                # Losing a test cluster's data on a power cut is fine; fsync costs seconds.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ]

        def healthy(ports: list[int]) -> bool:
            return _get(ports[0], "/health")[0] == 200

        client_port, _ = self._start_on_free_ports("etcd", 2, argv, "healthy", healthy)
        return f"http://127.0.0.1:{client_port}"

    def _start_apiserver(self, binary: Path, pki: Pki, etcd_url: str) -> None:
        def argv(ports: list[int]) -> list[str]:
            return [
                str(binary),
                # Without it the server may fail to pick an advertise address on a machine
                # without a default route.
                "--bind-address=127.0.0.1",
                f"--secure-port={ports[0]}",
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={self.workdir / 'kube-apiserver'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                f"--service-account-issuer=https://127.0.0.1:{ports[0]}",
                f"--service-account-key-file={pki.service_account_public_key}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                *self._audit_args(),
            ]

        def ready(ports: list[int]) -> bool:
            return _get(ports[0], "/readyz", self._ssl)[0] == 200

        (self._apiserver_port,) = self._start_on_free_ports(
            "kube-apiserver", 1, argv, "ready", ready
        )

    def _audit_args(self) -> list[str]:
        if self._audit_policy is None or self.audit_log is None:
            return []
        return [
            f"--audit-policy-file={self._audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            # Every event is written before the request completes: none lost, none late.
            "--audit-log-mode=blocking",
            "--audit-log-maxsize=1000000",  # 1 TB: never rotate, readers follow one file
            "--audit-log-maxbackup=0",
        ]

    def _start_controller_manager(self, binary: Path, pki: Pki) -> None:
        def argv(ports: list[int]) -> list[str]:
            return [
                str(binary),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                f"--controllers={','.join(self._controllers)}",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports[0]}",
                f"--cert-dir={self.workdir / 'kube-controller-manager'}",
            ]

        def healthy(ports: list[int]) -> bool:
            # Its certificate is self-signed; this is a liveness probe on loopback, so
            # there is nothing to verify it against or to protect.
            return _get(ports[0], "/healthz", _UNVERIFIED)[0] == 200

        self._start_on_free_ports("kube-controller-manager", 1, argv, "healthy", healthy)
        if "serviceaccount" in self._controllers:
            # Pods (and so Deployments' ReplicaSets) are refused until the namespace's
            # default ServiceAccount exists: callers should not have to race for it.
            default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
            self._wait_until(
                self._processes[-1],
                "creating the default ServiceAccount",
                lambda: self._api_get(default_sa)[0] == 200,
            )

    def _start_on_free_ports(
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
            process = self._spawn(name, argv(ports))
            try:
                self._wait_until(process, state, functools.partial(check, ports))
                return ports
            except ControlPlaneError:
                # A free port is free only until someone binds it: any outgoing
                # connection on the machine may take it before our process does.
                lost_race = process.popen.poll() is not None and PORT_TAKEN in process.tail()
                if not lost_race or attempt == PORT_ATTEMPTS:
                    raise
                self._processes.remove(process)
                attempt += 1

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as log_file:
            popen = subprocess.Popen(
                [*_die_with_parent(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # A session of their own: Ctrl-C in a terminal reaches only the launcher,
                # which then stops them in order instead of all dying at once.
                start_new_session=True,
            )
        process = _Process(name=name, popen=popen, log=log)
        self._processes.append(process)
        return process

    def _wait_until(self, process: _Process, state: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while True:
            code = process.popen.poll()
            if code is not None:
                raise self._failure(process, f"exited with code {code} before {state}")
            try:
                if check():
                    return
            except (OSError, http.client.HTTPException, ValueError):
                pass  # not listening yet, or mid-restart of its listener
            if time.monotonic() > deadline:
                raise self._failure(process, f"not {state} after {self._ready_timeout:.0f} s")
            time.sleep(POLL_INTERVAL)

    def _failure(self, process: _Process, what: str) -> ControlPlaneError:
        # The workdir, logs included, is deleted on failure: the message carries the tail.
        return ControlPlaneError(
            f"{process.name} {what}. Last {LOG_TAIL_LINES} lines of its log:\n{process.tail()}"
        )

    def _write_kubeconfig(self, pki: Pki) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        name = "hopper-controlplane"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": b64(pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {
                        "client-certificate-data": b64(pki.admin_cert),
                        "client-key-data": b64(pki.admin_key),
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": ADMIN_USER}}],
            "current-context": name,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _api_get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """One request as the admin user: (status, body). For fixtures and stand-ins."""
        if self._ssl is None or self._apiserver_port is None:
            raise ControlPlaneError("The control plane has not been started.")
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self._apiserver_port, context=self._ssl, timeout=5
        )
        try:
            connection.request(method, path, body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_UNVERIFIED = _unverified_context()


def _get(port: int, path: str, tls: ssl.SSLContext | None = None) -> tuple[int, bytes]:
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
