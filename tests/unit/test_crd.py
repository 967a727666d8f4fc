"""The committed CRD is exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

import yaml

from hopper_operator.api.crd import CRD_FILE, crd, crd_yaml

COMMITTED = Path(__file__).parents[2] / CRD_FILE


def test_committed_crd_matches_the_models() -> None:
    assert COMMITTED.read_text() == crd_yaml(), (
        f"{COMMITTED} is stale: regenerate it with `make manifests`"
    )


def _walk(node: object, path: str = "") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for name, sub in (node.get("properties") or {}).items():
            found += _walk(sub, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            found += _walk(node["items"], f"{path}[]")
    return found


def test_schema_is_structural_and_described() -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema["properties"]["spec"], ".spec"):
        assert "type" in node, f"{path} has no type"
        assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
        if not path.endswith("[]"):  # list items are explained by their list's field
            assert node.get("description"), f"{path} has no description for kubectl explain"
    yaml.safe_load(crd_yaml())  # and it is valid YAML
