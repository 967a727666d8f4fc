"""The metrics endpoint behind Kubernetes authentication and authorisation.

As controller-runtime's secure metrics (filters.WithAuthenticationAndAuthorization): served
over TLS; a scrape's bearer token must be accepted by a TokenReview, and the user it names
allowed `get` on the non-resource URL /metrics by a SubjectAccessReview. Prometheus scrapes
with its ServiceAccount token once that account is bound to the
`hopper-operator-metrics-reader` ClusterRole. Decisions are cached per token, briefly, so a
scrape usually costs no API request.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from hopper_operator.controller.metrics import Metrics
from hopper_operator.controller.settings import MetricsAuth, Settings
from hopper_operator.kube.client import Kube
from hopper_operator.kube.metrics_gate import METRICS_PATH, scrape
from hopper_operator.kube.reviews import Gate


def application(gate: Gate, registry: CollectorRegistry) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        answer = await scrape(gate, request.headers.get("Authorization"), registry)
        headers = {"Content-Type": answer.content_type}
        return web.Response(status=answer.status, body=answer.body, headers=headers)

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
    # Imported here: cryptography costs memory that a plain-HTTP operator never needs.
    from hopper_operator.kube.tls import files_context, self_signed_context

    context = (
        files_context(Path(cert_dir, "tls.crt"), Path(cert_dir, "tls.key"))
        if cert_dir
        else self_signed_context("hopper-operator-metrics")
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
