"""The metrics endpoint behind Kubernetes authentication and authorisation.

As controller-runtime's secure metrics (filters.WithAuthenticationAndAuthorization): served
over TLS; a scrape's bearer token must be accepted by a TokenReview, and the user it names
allowed `get` on the non-resource URL /metrics by a SubjectAccessReview. Prometheus scrapes
with its ServiceAccount token once that account is bound to the
`hopper-operator-metrics-reader` ClusterRole. Decisions are cached per token, briefly, so a
scrape usually costs no API request.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.settings import MetricsAuth, Settings
from hopper_operator.kube.client import Kube, KubeError
from hopper_operator.kube.reviews import authenticate, may

METRICS_PATH = "/metrics"
ALLOW_TTL = 60.0  # seconds a granted token is trusted without asking again
DENY_TTL = 10.0  # a refused one: short, so a new RoleBinding takes effect soon
YEAR = timedelta(days=365)
MAX_CACHED = 1024  # tokens remembered; garbage tokens must not grow memory without bound

logger = logging.getLogger(__name__)


class Decision(IntEnum):
    ALLOWED = 200
    UNAUTHENTICATED = 401
    FORBIDDEN = 403


@dataclass
class Gate:
    """Who may read the metrics, as the API server says, remembered for a short while."""

    kube: Kube
    _cache: dict[str, tuple[float, Decision]] = field(default_factory=dict)

    async def decide(self, authorization: str | None) -> Decision:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Decision.UNAUTHENTICATED
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        user = await authenticate(self.kube, token.strip())
        if user is None:
            decision = Decision.UNAUTHENTICATED
        elif await may(self.kube, user, "get", METRICS_PATH):
            decision = Decision.ALLOWED
        else:
            decision = Decision.FORBIDDEN
        self._remember(key, now, decision)
        return decision

    def _remember(self, key: str, now: float, decision: Decision) -> None:
        if len(self._cache) >= MAX_CACHED:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        ttl = ALLOW_TTL if decision is Decision.ALLOWED else DENY_TTL
        self._cache[key] = (now + ttl, decision)


def self_signed_context() -> ssl.SSLContext:
    """A throw-away certificate, as controller-runtime makes when given none: scrapers
    skip verification (or bring a real certificate with --metrics-cert-dir)."""
    # Imported here: cryptography costs memory that a plain-HTTP operator never needs.
    from hopper_operator.controller.tls import issue, load_into, server_context

    context = server_context()
    load_into(context, issue("hopper-operator-metrics", hosts=["localhost"], validity=YEAR))
    return context


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    from hopper_operator.controller.tls import server_context

    context = server_context()
    context.load_cert_chain(cert, key)
    return context


def application(gate: Gate, registry: CollectorRegistry) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        try:
            decision = await gate.decide(request.headers.get("Authorization"))
        except KubeError as error:
            # Not cached: the next scrape asks again.
            logger.warning("Cannot review a metrics scrape's token: %s", error)
            return web.Response(status=503, text="cannot review the token now\n")
        if decision is not Decision.ALLOWED:
            return web.Response(status=decision, text=f"{decision.name.lower()}\n")
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def serve_secure(
    *,
    kube: Kube,
    registry: CollectorRegistry,
    port: int,
    cert_dir: str | None,
    address: str = "0.0.0.0",
) -> web.AppRunner:
    """Start serving on the running loop; the caller cleans the runner up on shutdown."""
    context = (
        tls_context(Path(cert_dir, "tls.crt"), Path(cert_dir, "tls.key"))
        if cert_dir
        else self_signed_context()
    )
    runner = web.AppRunner(application(Gate(kube), registry), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port, ssl_context=context).start()
    return runner


async def serve_metrics(options: Settings, kube: Kube, metrics: Metrics) -> web.AppRunner | None:
    """Serve /metrics as the options say; a runner to clean up when one was started."""
    if not options.metrics_port:
        return None
    if options.metrics_auth is MetricsAuth.NONE:
        metrics.serve(options.metrics_port)
        return None
    return await serve_secure(
        kube=kube,
        registry=metrics.registry,
        port=options.metrics_port,
        cert_dir=options.metrics_cert_dir,
    )
