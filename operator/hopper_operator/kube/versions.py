"""resourceVersions: read off an object, compared as numbers, sent as a precondition.

Opaque by contract, but etcd revisions in every real API server: comparing them as
numbers is what tells an echo of our own write from someone else's newer one.
"""

from __future__ import annotations

from collections.abc import Mapping


def resource_version(obj: Mapping[str, object]) -> str:
    """`metadata.resourceVersion` of `obj`; "" when it has none."""
    metadata = obj.get("metadata")
    version = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
    return str(version or "")


def revision(resource_version: str | None) -> int:
    """A resourceVersion as a number; 0 for none or an unparsable one (which then waits
    for nothing rather than blocking forever)."""
    try:
        return int(resource_version or 0)
    except ValueError:
        return 0


def version_of(obj: Mapping[str, object] | None) -> int:
    """The object's resourceVersion as a number (0 if it has none)."""
    return revision(resource_version(obj or {}))


def guarded(body: Mapping[str, object], version: str) -> dict[str, object]:
    """`body` sent only onto `version` of its object: the API server answers 409 otherwise."""
    metadata = body.get("metadata")
    metadata = {**(metadata if isinstance(metadata, Mapping) else {}), "resourceVersion": version}
    return {**body, "metadata": metadata}
