"""Start and stop a throw-away local control plane: etcd, kube-apiserver, controller-manager.

Synchronous on purpose: it runs from pytest session fixtures and from a CLI command,
neither of which has an event loop to share. On its own no kubelet and no scheduler run,
so pods stay Pending; everything else (CRDs, RBAC, garbage collection, namespaces,
Deployments and ReplicaSets) behaves as in a real cluster. With `for_node=True` it is
ready for a real node (controlplane.node): the controllers and apiserver flags a kubelet
and kube-proxy rely on.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from hopper_localcluster.binaries import ControlPlaneError, find_binary
from hopper_localcluster.certs import ADMIN_USER, Pki, create_pki
from hopper_localcluster.processes import (
    UNVERIFIED,
    StartStop,
    Supervisor,
    http_get,
    owner_gone,
    owner_id,
)

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
# What a real node needs on top (each was a hard failure without it): nodelifecycle lifts
# the not-ready taint a kubelet registers with, root-ca-cert-publisher writes the
# kube-root-ca.crt ConfigMap every pod's token volume waits for, endpointslice feeds
# kube-proxy.
NODE_CONTROLLERS: tuple[str, ...] = ("nodelifecycle", "root-ca-cert-publisher", "endpointslice")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
WORKDIR_PREFIX = "hopper-controlplane-"
OWNER_FILE = "owner.pid"


def kubectl_path() -> Path:
    return find_binary("kubectl")


def reap_stale_workdirs() -> None:
    """Remove workdirs left by launchers that were killed before they could clean up."""
    for workdir in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            owner = (workdir / OWNER_FILE).read_text()
        except OSError:
            continue  # someone else's, or one being created right now
        if owner_gone(owner):
            shutil.rmtree(workdir, ignore_errors=True)


class ControlPlane(StartStop):
    """One local control plane in its own temporary directory, on free ports."""

    def __init__(
        self,
        *,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        ready_timeout: float = 60.0,
        audit_policy: Path | None = None,
        for_node: bool = False,
    ) -> None:
        self._for_node = for_node
        extra = tuple(c for c in NODE_CONTROLLERS if c not in controllers) if for_node else ()
        self._controllers = (*controllers, *extra)
        self._ready_timeout = ready_timeout
        # With a policy, kube-apiserver writes a JSON audit log to `audit_log`.
        self._audit_policy = audit_policy
        self._workdir: Path | None = None
        self._apiserver_port: int | None = None
        self._supervisor: Supervisor | None = None
        self._pki: Pki | None = None
        self._apiserver_argv: Callable[[list[int]], list[str]] | None = None
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
        (self._workdir / OWNER_FILE).write_text(owner_id())
        self._supervisor = Supervisor(self._workdir, ready_timeout=self._ready_timeout)
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
        if self._supervisor is not None:
            self._supervisor.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

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
        return {} if self._supervisor is None else self._supervisor.pids

    @property
    def pki(self) -> Pki:
        """The CA and certificates, for a node to sign its own identity with."""
        if self._pki is None:
            raise ControlPlaneError("The control plane has not been started.")
        return self._pki

    @property
    def port(self) -> int:
        if self._apiserver_port is None:
            raise ControlPlaneError("The control plane has not been started.")
        return self._apiserver_port

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
        pki = self._pki = create_pki(self.workdir / "pki")
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
            return http_get(ports[0], "/health")[0] == 200

        client_port, _ = self._processes.start_on_free_ports("etcd", 2, argv, "healthy", healthy)
        return f"http://127.0.0.1:{client_port}"

    def _start_apiserver(self, binary: Path, pki: Pki, etcd_url: str) -> None:
        def argv(ports: list[int]) -> list[str]:
            return [
                str(binary),
                *self._bind_args(),
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
            return http_get(ports[0], "/readyz", self._ssl)[0] == 200

        (self._apiserver_port,) = self._processes.start_on_free_ports(
            "kube-apiserver", 1, argv, "ready", ready
        )
        self._apiserver_argv = argv

    def restart_apiserver(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Fault drills: stop kube-apiserver with `sig` and start it again on the same port
        (so clients, which know one address, find it again), ready when this returns."""
        port, argv = self._apiserver_port, self._apiserver_argv
        if port is None or argv is None:
            raise ControlPlaneError("The control plane has not been started.")
        ready = lambda: http_get(port, "/readyz", self._ssl)[0] == 200  # noqa: E731
        self._processes.restart("kube-apiserver", argv([port]), sig, "ready", ready)

    def _bind_args(self) -> list[str]:
        if not self._for_node:
            # Without it the server may fail to pick an advertise address on a machine
            # without a default route.
            return ["--bind-address=127.0.0.1"]
        return [
            # The `kubernetes` Service's endpoint is the advertised (host) address: pods
            # reach the API there, through kube-proxy, so loopback alone will not do.
            "--bind-address=0.0.0.0",
            # Logs, exec and port-forward dial the kubelet; by its node name they would
            # need a DNS the machine does not have.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
        ]

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
            return http_get(ports[0], "/healthz", UNVERIFIED)[0] == 200

        self._processes.start_on_free_ports("kube-controller-manager", 1, argv, "healthy", healthy)
        if "serviceaccount" in self._controllers:
            # Pods (and so Deployments' ReplicaSets) are refused until the namespace's
            # default ServiceAccount exists: callers should not have to race for it.
            default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
            self._processes.wait_until(
                self._processes.newest,
                "creating the default ServiceAccount",
                lambda: self._api_get(default_sa)[0] == 200,
            )

    def _write_kubeconfig(self, pki: Pki) -> None:
        write_kubeconfig(
            self.kubeconfig,
            server=self.server_url,
            ca_cert=pki.ca_cert,
            user=ADMIN_USER,
            client=(pki.admin_cert, pki.admin_key),
        )

    @property
    def _processes(self) -> Supervisor:
        if self._supervisor is None:
            raise ControlPlaneError("The control plane has not been started.")
        return self._supervisor

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


def write_kubeconfig(
    path: Path, *, server: str, ca_cert: Path, user: str, client: tuple[Path, Path]
) -> None:
    """A kubeconfig for `user`, authenticated by a client certificate and key."""

    def b64(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    name = "hopper-controlplane"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client[0]),
                    "client-key-data": b64(client[1]),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
