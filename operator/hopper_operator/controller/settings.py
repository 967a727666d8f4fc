"""Operator settings: what `hopper-operator run` flags set, mapped onto Kopf's settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import kopf

from hopper_operator.api.meta import Label

OWNED_RESOURCES = (("apps", "deployments"), ("v1", "configmaps"), ("v1", "pods"))


class NoDiffBase(kopf.DiffBaseStorage):
    """No essence, no diff: this operator has no change-detecting handlers.

    Kopf builds a deep-copied "essence" of every object on every event to diff it against
    the last handled one, and discards it when no handler wants changes. Profiled at
    N=1000 that was a tenth of the operator's CPU; the reconciler is level-based and
    reads the indexes instead.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


class MetricsAuth(StrEnum):
    """Who may read /metrics."""

    KUBERNETES = "kubernetes"  # TLS; TokenReview + SubjectAccessReview on each new token
    NONE = "none"  # plain HTTP, open to whoever reaches the port (local development)


@dataclass(frozen=True)
class Settings:
    workers: int = 16
    metrics_port: int = 0  # 0: no metrics endpoint
    metrics_auth: MetricsAuth = MetricsAuth.KUBERNETES
    metrics_cert_dir: str | None = None  # tls.crt + tls.key; None: self-signed at start
    peering: str | None = None  # None: standalone, one replica (strategy: Recreate)
    watch_server_timeout: int = 600
    chunk_size: int | None = 500

    def apply(self, settings: kopf.OperatorSettings) -> None:
        # Only our own children: never list every Deployment, ConfigMap and Pod in the cluster.
        for selector in OWNED_RESOURCES:
            settings.watching.label_selectors[selector] = Label.INSTANCE
        settings.watching.server_timeout = self.watch_server_timeout
        settings.watching.chunk_size = self.chunk_size
        settings.persistence.diffbase_storage = NoDiffBase()
        # Failures are reported in status and Events by the reconciler, not as Kopf's logs.
        settings.posting.level = logging.WARNING
        if self.peering:
            settings.peering.name = self.peering
            settings.peering.standalone = False
        else:
            settings.peering.standalone = True
