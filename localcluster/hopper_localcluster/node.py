"""A real node for a local control plane: containerd, CNI bridge, kubelet, kube-proxy, scheduler.

Pods really run (runc containers from locally built images), Services really route
(kube-proxy's iptables rules), and `kubectl logs/exec` reach a real kubelet. Only as root,
one at a time per machine (host.machine_lock), and everything it changes on the host is
recorded first and undone by `stop()` (host.restore). The control plane must have been
started with `for_node=True`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hopper_localcluster.binaries import ControlPlaneError, find_binary
from hopper_localcluster.certs import create_client_cert
from hopper_localcluster.host import (
    HostRecord,
    machine_lock,
    recover_abandoned,
    restore,
)
from hopper_localcluster.images import Image, Role
from hopper_localcluster.launcher import ControlPlane, write_kubeconfig
from hopper_localcluster.nodeconfig import (
    BRIDGE,
    CNI_NETWORK,
    NODE_NAME,
    NodeLayout,
    cni_conflist,
    containerd_toml,
    kube_proxy_yaml,
    kubelet_yaml,
)
from hopper_localcluster.processes import UNVERIFIED, StartStop, Supervisor, http_get

WORKDIR_PREFIX = "hopper-node-"
NODE_USER = f"system:node:{NODE_NAME}"
NODE_GROUP = "system:nodes"
HOST_TOOLS = ("containerd", "ctr", "runc", "iptables", "ip", "mount", "umount")
# Room for the images (unpacked and packed), pod logs and emptyDirs.
TMPFS_SIZE = "4g"
DEPS_HINT = "Install them with scripts/node-deps.sh (as root; Debian's packages)."


def _host_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ControlPlaneError(
            f"The node tier needs `{name}`, which is not installed. {DEPS_HINT}"
        )
    return path


class Node(StartStop):
    """One node named `hopper-node` on this machine, for the control plane `plane`."""

    def __init__(
        self,
        plane: ControlPlane,
        images: Mapping[Role, Image],
        *,
        ready_timeout: float = 120.0,
    ) -> None:
        self._plane = plane
        self._images = dict(images)
        self._ready_timeout = ready_timeout
        self._stack = contextlib.ExitStack()
        self._layout: NodeLayout | None = None
        self._record: HostRecord | None = None
        self._supervisor: Supervisor | None = None
        self._kube_proxy: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._layout is not None:
            raise ControlPlaneError("This node was already started.")
        binaries = {name: find_binary(name) for name in ("kubelet", "kube-proxy", "kube-scheduler")}
        for tool in HOST_TOOLS:
            _host_tool(tool)
        self._kube_proxy = binaries["kube-proxy"]
        self._stack.enter_context(machine_lock())
        try:
            recover_abandoned(self._kube_proxy)
            workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            self._layout = NodeLayout(workdir)
            self._record = HostRecord.take(
                workdir,
                containerd_socket=self._layout.containerd_socket,
                bridge=BRIDGE,
            )
            self._record.save()
            atexit.register(self.stop)
            self._mount_tmpfs(workdir)
            self._supervisor = Supervisor(workdir, ready_timeout=self._ready_timeout)
            self._start_all(binaries)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process and undo every change to the host. Idempotent."""
        atexit.unregister(self.stop)
        try:
            if self._supervisor is not None:
                self._supervisor.stop()
                self._supervisor = None
            if self._record is not None:
                restore(self._record, self._kube_proxy)
                self._record = None
        finally:
            self._stack.close()

    # -- what callers use --------------------------------------------------------------

    @property
    def name(self) -> str:
        return NODE_NAME

    @property
    def workdir(self) -> Path:
        return self._layout_or_fail().root

    @property
    def processes(self) -> dict[str, int]:
        return {} if self._supervisor is None else self._supervisor.pids

    def image(self, role: Role) -> str:
        return self._images[role].name

    # -- start-up ----------------------------------------------------------------------

    def _layout_or_fail(self) -> NodeLayout:
        if self._layout is None:
            raise ControlPlaneError("The node has not been started.")
        return self._layout

    def _processes(self) -> Supervisor:
        if self._supervisor is None:
            raise ControlPlaneError("The node has not been started.")
        return self._supervisor

    @staticmethod
    def _mount_tmpfs(workdir: Path) -> None:
        # Unpacked images are tens of thousands of files: deleting them from a disk took
        # most of the teardown; unmounting a tmpfs takes no time (and it is faster to fill).
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(workdir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ControlPlaneError(f"mounting a tmpfs on {workdir} failed: {result.stderr}")

    def _start_all(self, binaries: dict[str, Path]) -> None:
        layout = self._layout_or_fail()
        for directory in (layout.containerd_root.parent, layout.cni_conf_dir, layout.pod_logs):
            directory.mkdir(parents=True, exist_ok=True)
        self._start_containerd()
        self._import_images()
        self._start_kubelet(binaries["kubelet"])
        self._start_kube_proxy(binaries["kube-proxy"])
        self._start_scheduler(binaries["kube-scheduler"])

    def _start_containerd(self) -> None:
        layout = self._layout_or_fail()
        layout.containerd_config.write_text(
            containerd_toml(layout, sandbox_image=self.image(Role.PAUSE))
        )
        (layout.cni_conf_dir / f"10-{CNI_NETWORK}.conflist").write_text(cni_conflist(layout))
        process = self._processes().spawn(
            "containerd", [_host_tool("containerd"), "--config", str(layout.containerd_config)]
        )
        self._processes().wait_until(
            process, "serving", lambda: self._ctr("version").returncode == 0
        )

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        socket = str(self._layout_or_fail().containerd_socket)
        argv = [_host_tool("ctr"), "--address", socket, "--namespace", "k8s.io", *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def _import_images(self) -> None:
        for image in self._images.values():
            result = self._ctr("images", "import", str(image.archive))
            if result.returncode != 0:
                raise ControlPlaneError(
                    f"ctr images import {image.archive} failed: {result.stderr.strip()}"
                )

    def _start_kubelet(self, binary: Path) -> None:
        layout = self._layout_or_fail()
        self._grant_node_identity()
        cert, key = create_client_cert(self._plane.pki, "kubelet", user=NODE_USER, group=NODE_GROUP)
        write_kubeconfig(
            layout.kubelet_kubeconfig,
            server=self._plane.server_url,
            ca_cert=self._plane.pki.ca_cert,
            user=NODE_USER,
            client=(cert, key),
        )

        def argv(ports: list[int]) -> list[str]:
            layout.kubelet_config.write_text(
                kubelet_yaml(layout, port=ports[0], healthz_port=ports[1])
            )
            return [
                str(binary),
                f"--config={layout.kubelet_config}",
                f"--kubeconfig={layout.kubelet_kubeconfig}",
                f"--root-dir={layout.kubelet_root}",
                f"--cert-dir={layout.kubelet_root / 'pki'}",
                f"--hostname-override={NODE_NAME}",
            ]

        def healthy(ports: list[int]) -> bool:
            return http_get(ports[1], "/healthz")[0] == 200

        self._processes().start_on_free_ports("kubelet", 2, argv, "healthy", healthy)
        self._processes().wait_until(
            self._processes().newest, "Ready and untainted", self._node_schedulable
        )

    def _grant_node_identity(self) -> None:
        # The API server authorizes by RBAC alone (no Node authorizer): the kubelet's
        # group gets the built-in system:node role.
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "hopper-node"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": NODE_GROUP}
            ],
        }
        path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
        status, body = self._plane.request("POST", path, json.dumps(binding).encode())
        if status not in {201, 409}:
            raise ControlPlaneError(f"binding system:node answered {status}: {body[:200]!r}")

    def _node_schedulable(self) -> bool:
        status, body = self._plane.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if status != 200:
            return False
        node: dict[str, Any] = json.loads(body)
        ready = any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in node.get("status", {}).get("conditions", ())
        )
        return ready and not node.get("spec", {}).get("taints")

    def _start_kube_proxy(self, binary: Path) -> None:
        layout = self._layout_or_fail()

        def argv(ports: list[int]) -> list[str]:
            layout.kube_proxy_config.write_text(
                kube_proxy_yaml(
                    self._plane.kubeconfig, healthz_port=ports[0], metrics_port=ports[1]
                )
            )
            return [str(binary), f"--config={layout.kube_proxy_config}"]

        def healthy(ports: list[int]) -> bool:
            return http_get(ports[0], "/healthz")[0] == 200

        self._processes().start_on_free_ports("kube-proxy", 2, argv, "healthy", healthy)

    def _start_scheduler(self, binary: Path) -> None:
        def argv(ports: list[int]) -> list[str]:
            return [
                str(binary),
                f"--kubeconfig={self._plane.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports[0]}",
            ]

        def healthy(ports: list[int]) -> bool:
            return http_get(ports[0], "/healthz", UNVERIFIED)[0] == 200

        self._processes().start_on_free_ports("kube-scheduler", 1, argv, "healthy", healthy)
