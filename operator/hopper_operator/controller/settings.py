"""Operator settings: what `hopper-operator run` flags set, mapped onto Kopf's settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

import kopf

from hopper_operator.api.meta import Label
from hopper_operator.controller.leader import DEFAULT_LEASE_NAME, LeaseTimings
from hopper_operator.core.world import DEFAULT_PARENT_GRACE_SECONDS

OWNED_RESOURCES = (("apps", "deployments"), ("v1", "configmaps"), ("v1", "pods"))


class NoDiffBase(kopf.DiffBaseStorage):
    """No essence, no diff: this operator has no change-detecting handlers.

    Kopf builds a deep-copied "essence" of every object on every event to diff it against
    the last handled one, and discards it when no handler wants changes. Profiled at
    N=1000 that was a tenth of the operator's CPU; the reconciler is level-based and
    reads the indexes instead.
    """

    def build(self, *, body: kopf.Body, extra_fields: object = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


# Kopf runs a task per object while its events come, holding the last event's body; the
# task ends after this long without one (Kopf's default: 5 s). An instance's events come in
# a burst (created, metadata, Starting, Running), so 1 s ends most tasks as soon as it is
# over: peak RSS at N = 1000 fell from 119-121 to 104-105 MiB, operator CPU unchanged
# within noise.
OBJECT_WORKER_IDLE_SECONDS = 1.0


class MetricsAuth(StrEnum):
    """Who may read /metrics."""

    KUBERNETES = "kubernetes"  # TLS; TokenReview + SubjectAccessReview on each new token
    NONE = "none"  # plain HTTP, open to whoever reaches the port (local development)


class RetryForever:
    """Kopf's backoffs for its (read-only) API requests, never exhausted: 1, 2, 4... 30 s.

    Kopf's default gives up after about a minute and lets the watcher fail; an API server
    restarted, or an etcd frozen, for longer must not end the operator: it waits and
    resumes. Iterable afresh for every request, as Kopf iterates it per request.
    """

    def __iter__(self) -> Iterator[float]:
        delay = 1.0
        while True:
            yield delay
            delay = min(30.0, delay * 2)


@dataclass(frozen=True)
class WebhookSettings:
    """The admission webhook server (`controller/admission_server.py`) and its certificate."""

    port: int = 9443
    address: str = "0.0.0.0"
    secret: str = "hopper-operator-webhook-tls"
    namespace: str | None = None  # None: the Lease's (the pod's own)
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1")  # the certificate's names
    configuration: str = "hopper-operator"  # both webhook configurations' name
    manage: bool = True  # False: cert-manager issues and injects
    validity: timedelta = timedelta(days=365)
    check_interval: float = 60.0  # seconds between reads of the Secret


@dataclass(frozen=True)
class Settings:
    workers: int = 16
    metrics_port: int = 0  # 0: no metrics endpoint
    metrics_auth: MetricsAuth = MetricsAuth.KUBERNETES
    metrics_cert_dir: str | None = None  # tls.crt + tls.key; None: self-signed at start
    readiness_port: int = 0  # 0: no /readyz endpoint
    namespaces: tuple[str, ...] = ()  # none: all namespaces
    leader_election: bool = True
    lease_name: str = DEFAULT_LEASE_NAME
    lease_namespace: str | None = None  # None: the pod's own (see leader.lease_namespace)
    lease: LeaseTimings = field(default_factory=LeaseTimings)
    watch_server_timeout: int = 600
    chunk_size: int | None = 500
    parent_grace_seconds: float = DEFAULT_PARENT_GRACE_SECONDS
    webhook: WebhookSettings | None = None  # None: no admission webhook server

    def apply(self, settings: kopf.OperatorSettings) -> None:
        # Only our own children: never list every Deployment, ConfigMap and Pod in the cluster.
        for selector in OWNED_RESOURCES:
            settings.watching.label_selectors[selector] = Label.INSTANCE
        settings.watching.server_timeout = self.watch_server_timeout
        settings.watching.chunk_size = self.chunk_size
        settings.networking.error_backoffs = RetryForever()
        settings.persistence.diffbase_storage = NoDiffBase()
        settings.queueing.idle_timeout = OBJECT_WORKER_IDLE_SECONDS
        # Failures are reported in status and Events by the reconciler, not as Kopf's logs;
        # and a standby, which runs the same handlers, must post nothing at all.
        settings.posting.level = logging.WARNING
        settings.posting.enabled = False
        # Kopf's peering is not leader election (replicas of equal priority all freeze):
        # every replica runs Kopf standalone, and the Lease decides who writes.
        settings.peering.standalone = True
