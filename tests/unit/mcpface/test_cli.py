"""`hopper-operator mcp`: the namespace a call without one serves is the kubeconfig
context's, as kubectl's, else default."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from hopper_operator.cli.mcp import context_namespace


def kubeconfig(path: Path, **namespaces: str) -> Path:
    contexts = [
        {"name": name, "context": {"cluster": "c", "user": "u",
                                   **({"namespace": ns} if ns else {})}}
        for name, ns in namespaces.items()
    ]  # fmt: skip
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": next(iter(namespaces)),
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}], "contexts": contexts,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_default_namespace_is_the_contexts(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", team="team-a", bare="")

    def namespace(context: str | None) -> str:
        return context_namespace(argparse.Namespace(kubeconfig=str(path), context=context))

    assert namespace(None) == "team-a"
    assert namespace("bare") == "default"
