"""JSON merge patches (RFC 7386), computed rather than hand-written."""

from __future__ import annotations

from typing import Any


def merge_patch(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 JSON merge patch that turns `before` into `after`.

    Objects are diffed key by key (a removed key becomes null); anything else, lists
    included, is replaced whole.
    """
    patch: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            nested = merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif old != value or key not in before:
            patch[key] = value
    patch.update({key: None for key in before if key not in after})
    return patch
