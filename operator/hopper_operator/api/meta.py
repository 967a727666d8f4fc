"""Names and formats this API shares with Kubernetes and its users, each defined once.

Every other module imports these: a label, an annotation or the group written as a literal
anywhere else would be a second home for the same fact.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum

GROUP = "hopper.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "HopperInstance"
PLURAL = "hopperinstances"
CRD_NAME = f"{PLURAL}.{GROUP}"  # also what kubectl takes as the fully qualified resource

FINALIZER = f"{GROUP}/finalizer"
MANAGER = "hopper-operator"  # field manager, Event source, app.kubernetes.io/managed-by


class Label(StrEnum):
    """Labels the operator sets: on instances (the tree) and on what they own."""

    SCOPE = f"{GROUP}/scope"
    PARENT = f"{GROUP}/parent"
    ROOT = f"{GROUP}/root"
    INSTANCE = f"{GROUP}/instance"  # on owned objects: the instance that owns them
    MANAGED_BY = "app.kubernetes.io/managed-by"


class Annotation(StrEnum):
    RESTARTED_AT = f"{GROUP}/restartedAt"  # set by users (kubectl hopper restart)
    SPEC_HASH = f"{GROUP}/spec-hash"  # on a Deployment: what it was built from
    CONFIG_HASH = f"{GROUP}/config-hash"  # on a ConfigMap and pod template: the config
    # Written by the REST Instance API: what the original's rows held and no spec field does.
    RUNTIME_METADATA = f"{GROUP}/runtime-metadata"  # a JSON object
    CREATED_BY = f"{GROUP}/created-by"


# RFC 3339 in UTC to the second, as Kubernetes writes metav1.Time.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse_time(value: object) -> datetime | None:
    """A metav1.Time as Kubernetes writes it; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def restart_token() -> str:
    """A hopper.dev/restartedAt token no other restart uses: the time to read, a random
    suffix to be unique (`kubectl hopper restart` and the REST API's restart write it)."""
    return f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}-{secrets.token_hex(4)}"
