"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager), and
as root a real node beside it (controlplane.node).

Used by the integration tests and by `hopper-operator dev`; never by the operator itself.
"""

from hopper_operator.controlplane.binaries import (
    ControlPlaneError,
    PinnedVersions,
    ensure_built,
    find_binary,
    pinned_versions,
)
from hopper_operator.controlplane.launcher import ControlPlane, kubectl_path
from hopper_operator.controlplane.processes import free_ports

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
