"""Identity of a workload: one hash of everything that shapes its Deployment."""

from __future__ import annotations

from hopper_operator.api.runtime import Runtime
from hopper_operator.core.config import config_hash


def workload_hash(runtime: Runtime, replicas: int, config_digest: str) -> str:
    return config_hash(
        {
            "runtime": runtime.model_dump(mode="json"),
            "replicas": replicas,
            "config": config_digest,
        }
    )
