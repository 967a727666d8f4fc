"""Effective config: the parent's effective config deep-merged with the child's own."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

# A ConfigMap holds at most 1 MiB; stay well below so the object and its metadata fit.
MAX_CONFIG_BYTES = 256 * 1024


def config_map_name(instance: str) -> str:
    """The ConfigMap holding an instance's effective config."""
    return f"{instance}-config"


Config = Mapping[str, object]  # free-form JSON, as spec.config holds it


def deep_merge(base: Config, override: Config) -> dict[str, object]:
    """`override` wins key by key; two objects under one key merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def merge_down(configs_from_root: Iterable[Config]) -> dict[str, object]:
    """The configs of a chain of instances, root first, merged: the inherited config."""
    merged: dict[str, object] = {}
    for config in configs_from_root:
        merged = deep_merge(merged, config)
    return merged


def canonical_json(config: Config) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: Config) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]
