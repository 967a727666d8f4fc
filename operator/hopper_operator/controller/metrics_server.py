"""The metrics endpoint behind Kubernetes authentication and authorisation.

As controller-runtime's secure metrics (filters.WithAuthenticationAndAuthorization): served
over TLS; a scrape's bearer token must be accepted by a TokenReview, and the user it names
allowed `get` on the non-resource URL /metrics by a SubjectAccessReview. Prometheus scrapes
with its ServiceAccount token once that account is bound to the
`hopper-operator-metrics-reader` ClusterRole. Decisions are cached per token, briefly, so a
scrape usually costs no API request.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.settings import MetricsAuth, Settings
from hopper_operator.kube import reviews
from hopper_operator.kube.client import Kube, KubeError
from hopper_operator.kube.reviews import (  # noqa: F401  re-exported: the gate's terms
    ALLOW_TTL,
    DENY_TTL,
    MAX_CACHED,
    Decision,
    non_resource,
)

METRICS_PATH = "/metrics"
YEAR = timedelta(days=365)

logger = logging.getLogger(__name__)


@dataclass
class Gate(reviews.Gate):
    """Who may read the metrics: `get` on the non-resource URL /metrics."""

    attributes: reviews.Attributes | None = field(
        default_factory=lambda: non_resource("get", METRICS_PATH)
    )


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
