"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager), and
as root a real node beside it (hopper_localcluster.node).

Development and test tooling, used by the tests, `hopper-localcluster dev` and the bench;
never by the operator, and never shipped in its wheel or image.
"""

from hopper_localcluster.binaries import (
    ControlPlaneError,
    PinnedVersions,
    ensure_built,
    find_binary,
    pinned_versions,
)
from hopper_localcluster.launcher import ControlPlane, kubectl_path
from hopper_localcluster.processes import free_ports

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "PinnedVersions",
    "ensure_built",
    "find_binary",
    "free_ports",
    "kubectl_path",
    "pinned_versions",
]
