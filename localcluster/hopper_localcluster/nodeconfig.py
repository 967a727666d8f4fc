"""The node tier's configuration files: containerd, the CNI network, kubelet, kube-proxy.

Pure functions of a `NodeLayout`, so what each setting is for sits beside it. Every
setting marked "required" was a hard failure without it on the machines this runs on
(cgroup v1 hosts inside VMs that withhold CAP_SYS_RESOURCE even from root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NODE_NAME = "hopper-node"
CNI_NETWORK = "hopper-node"
BRIDGE = "hopper0"
POD_CIDR = "10.244.0.0/24"
CNI_BIN_DIR = Path("/usr/lib/cni")


@dataclass(frozen=True)
class NodeLayout:
    """Where one node's files live, all under `root` (deleted when the node stops)."""

    root: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def runc_root(self) -> Path:
        return self.root / "containerd" / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy.yaml"


def containerd_toml(layout: NodeLayout, *, sandbox_image: str) -> str:
    cri = '[plugins."io.containerd.grpc.v1.cri"]'
    runc = f"{cri[:-1]}.containerd.runtimes.runc]"
    lines = [
        "version = 2",
        f'root = "{layout.containerd_root}"',
        f'state = "{layout.containerd_state}"',
        # Snapshotters this machine has no use for only log errors at start-up.
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", '
        '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
        '"io.containerd.snapshotter.v1.devmapper"]',
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        '[plugins."io.containerd.internal.v1.opt"]',
        f'  path = "{layout.root / "containerd" / "opt"}"',
        cri,
        # No registry is reachable: the pause image is built and imported locally.
        f'  sandbox_image = "{sandbox_image}"',
        # Required: runc cannot write /proc/self/oom_score_adj without CAP_SYS_RESOURCE,
        # which these VMs withhold; it otherwise fails every sandbox ("can't get final
        # child's PID from pipe: EOF").
        "  restrict_oom_score_adj = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        f"{cri[:-1]}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        runc,
        '  runtime_type = "io.containerd.runc.v2"',
        f"{runc[:-1]}.options]",
        # Required: the kubelet drives cgroupfs (no systemd on these machines).
        "  SystemdCgroup = false",
        f'  Root = "{layout.runc_root}"',
        f"{cri[:-1]}.cni]",
        f'  bin_dir = "{CNI_BIN_DIR}"',
        f'  conf_dir = "{layout.cni_conf_dir}"',
    ]
    return "\n".join(lines) + "\n"


def cni_conflist(layout: NodeLayout) -> str:
    """One bridge, host-local addresses: pods reach each other and the host, nothing more.

    No masquerading and no port mapping, so the plugins add no iptables rules of their own
    (there is nowhere beyond this machine to reach anyway).
    """
    bridge: dict[str, Any] = {
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": POD_CIDR}]],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(layout.root / "cni" / "ipam"),
        },
    }
    conflist = {"cniVersion": "1.0.0", "name": CNI_NETWORK, "plugins": [bridge]}
    return json.dumps(conflist, indent=2) + "\n"


def kubelet_yaml(layout: NodeLayout, *, port: int, healthz_port: int) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # A test node's API: anyone on the machine may read logs or exec. The API server
        # reaches it without a client certificate.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        # Required: cgroupfs like containerd; the hosts are cgroup v1, which kubelet 1.35+
        # refuses unless told otherwise; swap may be on.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        # Imported images cannot be pulled again: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A busy shared disk must not evict the pods under test.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%"},
        "podLogsDir": str(layout.pod_logs),
        "clusterDomain": "cluster.local",
        "rotateCertificates": False,
        "serializeImagePulls": False,
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_yaml(kubeconfig: Path, *, healthz_port: int, metrics_port: int) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # Zeros leave the host's conntrack sysctls alone; no NodePorts on loopback, so
        # route_localnet stays untouched too.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
    }
    return yaml.safe_dump(config, sort_keys=False)
