"""Compile the pydantic models into the HopperInstance CustomResourceDefinition.

pydantic emits JSON Schema with $refs, titles and `anyOf [X, null]` for optionals; the API
server wants a structural OpenAPI v3 schema: every ref inlined, every node typed, no
nulls. `structural()` does that translation and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaValue

from hopper_operator.api.meta import CRD_NAME, GROUP, KIND, PLURAL, VERSION
from hopper_operator.api.models import MAX_NAME_LENGTH, HopperInstanceSpec, HopperInstanceStatus

# Where `make manifests` writes the CRD in a checkout: the Helm chart's crds/ (Helm installs
# it from there; manifests/ and the release bundle are rendered from the chart).
CRD_FILE = Path("charts/hopper-operator/crds") / f"{PLURAL}.{GROUP}.yaml"

_DROPPED_KEYS = {"title", "$defs"}


def structural(node: object, defs: JsonSchemaValue) -> object:  # noqa: PLR0912 one branch a rule
    """Inline refs, collapse nullable anyOfs, drop pydantic-only keys, recursively."""
    if isinstance(node, list):
        return [structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            merged = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            if merged.get("default", ...) is None:
                del merged["default"]
            return structural(merged, defs)
    out: JsonSchemaValue = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "format" and value == "date-time":
            out[key] = value
        elif key in ("properties", "patternProperties"):
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "additionalProperties" and value is False:
            continue  # pydantic's extra="forbid"; the API server prunes unknown fields instead
        else:
            out[key] = structural(value, defs)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def model_schema(model: type[BaseModel]) -> JsonSchemaValue:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = structural(raw, raw.get("$defs", {}))
    assert isinstance(schema, dict)
    return schema


def openapi_schema() -> JsonSchemaValue:
    return {
        "type": "object",
        "description": "A Hopper instance: a node in a tree of scopes with a lifecycle.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": model_schema(HopperInstanceSpec),
            "status": model_schema(HopperInstanceStatus),
        },
        "x-kubernetes-validations": [
            {
                "rule": f"self.metadata.name.size() <= {MAX_NAME_LENGTH}",
                "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters: "
                "it is used as a label value (hopper.dev/parent, hopper.dev/root)",
            },
            {
                "rule": "!has(self.spec.parentRef) "
                "|| self.spec.parentRef.name != self.metadata.name",
                "message": "an instance cannot be its own parent",
            },
        ],
    }


PRINTER_COLUMNS = [
    {"name": "Scope", "type": "string", "jsonPath": ".spec.scope"},
    {"name": "Parent", "type": "string", "jsonPath": ".spec.parentRef.name"},
    {"name": "Desired", "type": "string", "jsonPath": ".spec.state"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> JsonSchemaValue:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["hi", "hopper"],
                "categories": ["hopper"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


HEADER = "# Generated from hopper_operator.api.models by `hopper-operator crd`. Do not edit.\n"


def crd_yaml() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)
