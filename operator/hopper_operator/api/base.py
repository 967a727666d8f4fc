"""What every API model shares: camelCase JSON, no unknown fields, CEL rules beside fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def rules(*pairs: tuple[str, str]) -> dict[str, Any]:
    """CEL `x-kubernetes-validations` for a field: (rule, message) pairs."""
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in pairs]}


def more_rules(*pairs: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    """`rules`, for a field whose type brings CEL rules of its own: adds instead of replacing."""

    def extend(schema: dict[str, Any]) -> None:
        schema.setdefault("x-kubernetes-validations", []).extend(
            rules(*pairs)["x-kubernetes-validations"]
        )

    return extend


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
