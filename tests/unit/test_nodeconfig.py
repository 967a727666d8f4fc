"""The node tier's configuration carries the settings that were hard failures without them."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
import yaml

from hopper_localcluster import ControlPlaneError, host
from hopper_localcluster.nodeconfig import (
    NodeLayout,
    cni_conflist,
    containerd_toml,
    kubelet_yaml,
)

LAYOUT = NodeLayout(Path("/tmp/hopper-node-x"))


def test_containerd_runs_runc_on_cgroupfs_without_oom_score_adjustments() -> None:
    config = tomllib.loads(containerd_toml(LAYOUT, sandbox_image="localhost/pause:1"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "localhost/pause:1"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    # Nothing of containerd's lands outside the node's directory.
    for path in (
        config["root"],
        config["state"],
        config["grpc"]["address"],
        runc["options"]["Root"],
    ):
        assert path.startswith(str(LAYOUT.root))


def test_kubelet_accepts_cgroup_v1_and_never_collects_imported_images() -> None:
    config = yaml.safe_load(kubelet_yaml(LAYOUT, port=1, healthz_port=2))
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["imageGCHighThresholdPercent"] == 100
    assert config["podLogsDir"].startswith(str(LAYOUT.root))


def test_the_pod_network_adds_no_iptables_rules_of_its_own() -> None:
    (bridge,) = json.loads(cni_conflist(LAYOUT))["plugins"]
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["dataDir"].startswith(str(LAYOUT.root))


def test_the_node_tier_refuses_clearly_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ControlPlaneError, match="The node tier needs root"), host.machine_lock():
        pass
