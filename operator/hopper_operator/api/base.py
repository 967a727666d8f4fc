"""What every API model shares: camelCase JSON, no unknown fields, CEL rules beside fields."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

VALIDATIONS = "x-kubernetes-validations"


def rules(*pairs: tuple[str, str]) -> JsonDict:
    """CEL `x-kubernetes-validations` for a field: (rule, message) pairs."""
    return {VALIDATIONS: [{"rule": r, "message": m} for r, m in pairs]}


def more_rules(*pairs: tuple[str, str]) -> Callable[[JsonDict], None]:
    """`rules`, for a field whose type brings CEL rules of its own: adds instead of replacing."""

    def extend(schema: JsonDict) -> None:
        before, added = schema.get(VALIDATIONS), rules(*pairs)[VALIDATIONS]
        assert isinstance(added, list)
        schema[VALIDATIONS] = [*(before if isinstance(before, list) else ()), *added]

    return extend


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
