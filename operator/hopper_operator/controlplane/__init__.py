"""A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager).

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

__all__ = [
    "ControlPlane",
    "ControlPlaneError",
    "PinnedVersions",
    "ensure_built",
    "find_binary",
    "kubectl_path",
    "pinned_versions",
]
