"""In a pod, the operator reaches the API server the way client-go does: by the variables
the kubelet sets, not by the cluster DNS name Kopf's own login uses."""

from __future__ import annotations

from hopper_operator.kube.login import in_cluster_server


def test_the_kubelets_variables_name_the_server() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(environ) == "https://10.0.0.1:443"


def test_an_ipv6_service_address_is_bracketed() -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert in_cluster_server(environ) == "https://[fd00::1]:6443"


def test_without_them_kopfs_default_stands() -> None:
    assert in_cluster_server({}) is None
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) is None
